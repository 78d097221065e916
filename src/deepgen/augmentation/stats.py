"""Statistics over seeds: mean with a Student-t confidence interval, and the paired t-test."""

from __future__ import annotations

import math

from scipy import stats


def mean_ci(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its `level` confidence interval (t distribution, n - 1 dof)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, stats.t.ppf((1 + level) / 2, n - 1) * sd / math.sqrt(n)


def paired_difference(variant: list[float], baseline: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of variant - baseline over paired seeds, its CI half-width, and the two-sided paired t-test
    p-value (NaN with fewer than two seeds or when every difference is the same)."""
    mean, half = mean_ci([a - b for a, b in zip(variant, baseline)], level)
    p = float(stats.ttest_rel(variant, baseline).pvalue) if len(variant) > 1 else math.nan
    return mean, half, p
