"""Point estimates with 95% intervals for table cells, and differences between two cells.

Conventions (stated in every report):
  - one seed: the value and the percentile bootstrap interval stored with the metrics (`ci95`, resampling the
    sample archive's images with the reference fixed). The stored bootstrap replicates are kept, so that
  - a difference a - b of two one-seed cells whose bootstraps drew the same resample indices (same seed, same
    number of resamples, same number of samples: sample i of every admbench archive shares its noise seed and
    label) gets the PAIRED percentile interval of the replicate differences a_b - b_b;
  - n > 1 seeds: the mean over seeds and mean +- t(0.975, n-1) * s / sqrt(n) (training-seed and sampling
    noise); a difference of two cells with the same seeds: the t interval of the per-seed differences;
  - otherwise a difference combines standard errors as sqrt(se_a^2 + se_b^2) (independent cells).
A difference is significant when its 95% interval excludes zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

Z95 = 1.959963984540054  # standard normal 0.975 quantile


@dataclass(frozen=True)
class Estimate:
    """A cell value: mean over seeds, 95% interval (None when unknown), its standard error, and what a paired
    difference needs (bootstrap replicates and their identity for one seed, per-seed values for several)."""

    value: float
    ci: tuple[float, float] | None
    se: float | None
    seeds: int
    replicates: tuple[float, ...] | None = None
    bootstrap_id: tuple[int, int, int] | None = None  # (seed, resamples, num_samples)
    per_seed: tuple[float, ...] = ()

    @property
    def significant(self) -> bool:
        """True when the 95% interval excludes zero (meaningful for differences)."""
        return self.ci is not None and (self.ci[0] > 0 or self.ci[1] < 0)


def _interval(result: Mapping[str, Any], metric: str) -> tuple[float, float] | None:
    ci = result.get("ci95")
    if isinstance(ci, Mapping) and isinstance(ci.get(metric), (list, tuple)) and len(ci[metric]) == 2:
        return float(ci[metric][0]), float(ci[metric][1])
    if metric == "fid" and isinstance(result.get("fid_ci95"), (list, tuple)):
        return float(result["fid_ci95"][0]), float(result["fid_ci95"][1])
    return None


def _replicates(result: Mapping[str, Any], metric: str) -> tuple[tuple[float, ...], tuple[int, int, int]] | None:
    boot = result.get("bootstrap")
    if not isinstance(boot, Mapping):
        return None
    reps = boot.get("replicates", {}).get(metric) if isinstance(boot.get("replicates"), Mapping) else None
    if not reps:
        return None
    try:
        ident = (int(boot["seed"]), int(boot["resamples"]), int(boot["num_samples"]))
    except (KeyError, TypeError, ValueError):
        return None
    return tuple(float(v) for v in reps), ident


def estimate(results: Sequence[Mapping[str, Any]], metric: str) -> Estimate | None:
    """One metric of a cell over its seeds' metrics dicts (None when no seed has the metric)."""
    present = [r for r in results if isinstance(r.get(metric), (int, float)) and not isinstance(r.get(metric), bool)]
    if not present:
        return None
    values = [float(r[metric]) for r in present]
    n = len(values)
    mean = sum(values) / n
    if n == 1:
        interval = _interval(present[0], metric)
        reps = _replicates(present[0], metric)
        se = None if interval is None else (interval[1] - interval[0]) / (2 * Z95)
        return Estimate(mean, interval, se, 1, None if reps is None else reps[0], None if reps is None else reps[1],
                        (mean,))  # fmt: skip
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    se = s / math.sqrt(n)
    t = float(stats.t.ppf(0.975, n - 1))
    return Estimate(mean, (mean - t * se, mean + t * se), se, n, per_seed=tuple(values))


def difference(a: Estimate, b: Estimate) -> Estimate:
    """a - b with a 95% interval: paired where the cells allow it, else from the combined standard errors."""
    d = a.value - b.value
    if (a.seeds == 1 and b.seeds == 1 and a.replicates is not None and b.replicates is not None
            and a.bootstrap_id == b.bootstrap_id and len(a.replicates) == len(b.replicates)):  # fmt: skip
        diffs = np.asarray(a.replicates) - np.asarray(b.replicates)
        lo, hi = np.quantile(diffs, [0.025, 0.975])
        return Estimate(d, (float(lo), float(hi)), float((hi - lo) / (2 * Z95)), 1)
    if a.seeds > 1 and a.seeds == b.seeds and len(a.per_seed) == len(b.per_seed) == a.seeds:
        diffs = np.asarray(a.per_seed) - np.asarray(b.per_seed)
        se = float(diffs.std(ddof=1) / math.sqrt(len(diffs)))
        t = float(stats.t.ppf(0.975, len(diffs) - 1))
        return Estimate(d, (d - t * se, d + t * se), se, a.seeds)
    if a.se is None or b.se is None:
        return Estimate(d, None, None, min(a.seeds, b.seeds))
    se = math.sqrt(a.se**2 + b.se**2)
    q = Z95 if a.seeds == 1 and b.seeds == 1 else float(stats.t.ppf(0.975, max(1, a.seeds + b.seeds - 2)))
    return Estimate(d, (d - q * se, d + q * se), se, min(a.seeds, b.seeds))
