"""The scarce-data curve: test scores against real training images per class for every variant, and what the
generated images are worth in real images, read off the curve of the same training without them."""

from __future__ import annotations

import math

from deepgen.augmentation.stats import mean_ci

Curve = list[tuple[int, float, float]]  # (images per class, mean, CI half-width), by images per class


def curves(rows: list[dict], classifier: str, metric: str = "accuracy") -> dict[str, Curve]:
    """Each variant's curve of `metric` (mean ± 95% CI over seeds) for `classifier`, at every per-class limit."""
    mine = [r for r in rows if r["classifier"] == classifier and isinstance(r.get("per_class"), int)]
    out: dict[str, Curve] = {}
    for variant in dict.fromkeys(r["variant"] for r in mine):
        points = []
        for n in sorted({r["per_class"] for r in mine if r["variant"] == variant}):
            mean, half = mean_ci([r[metric] for r in mine if r["variant"] == variant and r["per_class"] == n])
            points.append((n, mean, half))
        out[variant] = points
    return out


def real_equivalent(reference: Curve, score: float) -> float | None:
    """The images per class at which `reference` reaches `score`, interpolated linearly in log(images per class)
    between the first two neighbouring points that bracket it; None when the curve never reaches it."""
    for (n0, m0, _), (n1, m1, _) in zip(reference, reference[1:]):
        if m0 <= score <= m1 and m1 > m0:
            return math.exp(math.log(n0) + (score - m0) / (m1 - m0) * (math.log(n1) - math.log(n0)))
    return None


def worth_lines(rows: list[dict], classifier: str) -> list[str]:
    """For each variant with generated images, at each limit n where it beats its reference (its recorded baseline:
    the same training without generated images): 'worth about k real images per class at n' from its curve."""
    by_variant = curves(rows, classifier)
    recorded = {r["variant"]: r.get("baseline") for r in rows if r["classifier"] == classifier}
    mine = [r for r in rows if r["classifier"] == classifier]
    generated = {r["variant"] for r in mine if r.get("synthetic", r["variant"] not in ("real", "classic"))}
    lines = []
    for variant, points in by_variant.items():
        reference = recorded.get(variant) or ("classic" if variant.endswith("+classic") else "real")
        if variant not in generated or reference not in by_variant:
            continue
        base = dict((n, m) for n, m, _ in by_variant[reference])
        for n, mean, _ in points:
            if n not in base:
                continue
            if mean <= base[n]:
                lines.append(
                    f"{classifier}, {variant} at {n} real images per class: no gain over {reference} "
                    f"({100 * mean:.2f} vs {100 * base[n]:.2f}), so the generated images are worth nothing there."
                )
                continue
            k = real_equivalent(by_variant[reference], mean)
            if k is None:
                top = by_variant[reference][-1][0]
                lines.append(
                    f"{classifier}, {variant} at {n} real images per class ({100 * mean:.2f}) is above {reference} at "
                    f"every measured size (up to {top}): what it is worth cannot be read off the curve."
                )
            else:
                lines.append(
                    f"{classifier}, {variant}: at {n} real images per class, synthetic images are worth about "
                    f"{k - n:.0f} real images per class ({100 * mean:.2f}% accuracy, which {reference} reaches with "
                    f"about {k:.0f} real images per class; interpolated in log images per class; a difference of "
                    "means: see the paired tests for its significance)."
                )
    return lines
