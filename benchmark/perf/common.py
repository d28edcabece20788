"""Shared helpers for perf sections: a result row, a best-of-N timer, peak RSS."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PerfRow:
    """One measured comparison: ours vs a baseline, same inputs, same run."""

    section: str
    name: str
    ours: float
    baseline: float | None
    unit: str  # "s" (lower is better) or "img/s" etc. (higher is better)
    higher_is_better: bool
    baseline_name: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """Speed-up of ours over the baseline (> 1 means ours is better)."""
        if self.baseline is None or self.ours == 0 or self.baseline == 0:
            return None
        return self.ours / self.baseline if self.higher_is_better else self.baseline / self.ours


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """Minimum wall time of `repeats` calls (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
