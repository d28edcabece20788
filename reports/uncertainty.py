"""Point estimates with 95% intervals for table cells: one seed (bootstrap interval of FID over the sample
features) or several seeds (Student-t interval across seeds), and differences between two rows.

Conventions (stated in every report):
  - one seed: the value and the stored percentile bootstrap interval (`fid_ci95` of the metrics file); its
    standard error is taken as (hi - lo) / (2 * 1.96);
  - n > 1 seeds: the mean over seeds and mean +- t(0.975, n-1) * s / sqrt(n) with the sample standard
    deviation s (this includes training-seed and sampling noise);
  - a difference a - b: standard errors combined as sqrt(se_a^2 + se_b^2) (independent runs), with the normal
    quantile for one seed and t with n_a + n_b - 2 degrees of freedom for several.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

Z95 = 1.959963984540054  # standard normal 0.975 quantile


@dataclass(frozen=True)
class Estimate:
    """A cell value: mean over seeds, 95% interval (None when unknown) and its standard error."""

    value: float
    ci: tuple[float, float] | None
    se: float | None
    seeds: int


def estimate(values: list[float], intervals: list[tuple[float, float] | None]) -> Estimate | None:
    """Combine one metric over seeds; `intervals` are the per-seed bootstrap intervals (or None)."""
    if not values:
        return None
    n = len(values)
    mean = sum(values) / n
    if n == 1:
        interval = intervals[0] if intervals else None
        if interval is None:
            return Estimate(mean, None, None, 1)
        lo, hi = float(interval[0]), float(interval[1])
        return Estimate(mean, (lo, hi), (hi - lo) / (2 * Z95), 1)
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    se = s / math.sqrt(n)
    t = float(stats.t.ppf(0.975, n - 1))
    return Estimate(mean, (mean - t * se, mean + t * se), se, n)


def difference(a: Estimate, b: Estimate) -> Estimate:
    """a - b with a 95% interval from the combined standard errors (None when either lacks one)."""
    d = a.value - b.value
    if a.se is None or b.se is None:
        return Estimate(d, None, None, min(a.seeds, b.seeds))
    se = math.sqrt(a.se**2 + b.se**2)
    q = Z95 if a.seeds == 1 and b.seeds == 1 else float(stats.t.ppf(0.975, max(1, a.seeds + b.seeds - 2)))
    return Estimate(d, (d - q * se, d + q * se), se, min(a.seeds, b.seeds))
