"""Statistics over seeds: mean with a Student-t confidence interval and the paired t-test (only where it can
speak: three or more seeds whose differences vary), and a per-image view for small test sets: McNemar's exact test
on the test images' right/wrong answers, pooled over seeds."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

MIN_SEEDS = 3  # fewer paired seeds give no p-value


def mean_ci(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its `level` confidence interval (t distribution, n - 1 dof)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, stats.t.ppf((1 + level) / 2, n - 1) * sd / math.sqrt(n)


def untestable(variant: list[float], baseline: list[float]) -> str | None:
    """Why the paired t-test cannot be run (fewer than MIN_SEEDS seeds, or the same difference on every seed, where
    its variance is zero and a p-value would be an artefact of rounding), or None."""
    if len(variant) < MIN_SEEDS:
        return f"cannot test: {len(variant)} seed(s), {MIN_SEEDS} needed"
    differences = [a - b for a, b in zip(variant, baseline)]
    if max(differences) - min(differences) <= 1e-9 * max(1.0, *map(abs, differences)):
        return "cannot test: the same difference on every seed"
    return None


def paired_difference(variant: list[float], baseline: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of variant - baseline over paired seeds, its CI half-width, and the two-sided paired t-test
    p-value (NaN where `untestable`)."""
    mean, half = mean_ci([a - b for a, b in zip(variant, baseline)], level)
    p = math.nan if untestable(variant, baseline) else float(stats.ttest_rel(variant, baseline).pvalue)
    return mean, half, p


def pack(correct: np.ndarray) -> str:
    """Right (True) / wrong answers on the test images as a hex string (a column of results.csv)."""
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes().hex() + f":{len(correct)}"


def unpack(text: str) -> np.ndarray:
    bits, n = text.rsplit(":", 1)
    return np.unpackbits(np.frombuffer(bytes.fromhex(bits), dtype=np.uint8))[: int(n)].astype(bool)


def mcnemar(variant: list[np.ndarray], baseline: list[np.ndarray]) -> tuple[int, int, float]:
    """McNemar's exact test on paired right/wrong answers, pooled over seeds (each seed's test images paired with
    themselves): images only the variant gets right, only the baseline gets right, and the two-sided p-value
    (NaN when no image differs). Treats the images as independent; a per-image complement to the seed-level test."""
    only_variant = sum(int((a & ~b).sum()) for a, b in zip(variant, baseline))
    only_baseline = sum(int((~a & b).sum()) for a, b in zip(variant, baseline))
    n = only_variant + only_baseline
    p = float(stats.binomtest(only_variant, n, 0.5).pvalue) if n else math.nan
    return only_variant, only_baseline, p


def seeds_needed(differences: list[float], power: float = 0.8, alpha: float = 0.05, most: int = 1000) -> int | None:
    """The fewest paired seeds with which a two-sided paired t-test at `alpha` detects the mean of `differences`
    (taking their mean and standard deviation as the truth) with probability `power`; None where the differences
    never vary or average zero, or more than `most` would be needed."""
    n = len(differences)
    if n < 2:
        return None
    mean = sum(differences) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / (n - 1))
    if sd <= 1e-12 or abs(mean) <= 1e-12:
        return None
    effect = abs(mean) / sd
    for seeds in range(2, most + 1):
        critical = stats.t.ppf(1 - alpha / 2, seeds - 1)
        reached = stats.nct.sf(critical, seeds - 1, effect * math.sqrt(seeds))
        reached += stats.nct.cdf(-critical, seeds - 1, effect * math.sqrt(seeds))
        if reached >= power:
            return seeds
    return None
