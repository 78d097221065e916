"""The results table over seeds, with paired tests against the real-only baseline and a plain conclusion."""

from __future__ import annotations

import math

from deepgen.augment.stats import mean_ci, paired_difference

SCORES = [("accuracy", "accuracy"), ("balanced_accuracy", "balanced acc."), ("macro_f1", "macro-F1")]


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN)."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    adjusted, running = list(pvalues), 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p))
        adjusted[i] = running
    return adjusted


def fmt(mean: float, half: float, scale: float = 100) -> str:
    return f"{scale * mean:.2f}" + ("" if math.isnan(half) else f" ± {scale * half:.2f}")


def summarise(rows: list[dict], seeds: int) -> str:
    lines = [f"# Real vs real + synthetic: test scores over {seeds} seed(s), mean ± 95% CI (percent)", ""]
    robustness = [k for k in rows[0] if "@" in k]
    for classifier in dict.fromkeys(r["classifier"] for r in rows):
        mine = [r for r in rows if r["classifier"] == classifier]
        by_variant = {
            v: sorted((r for r in mine if r["variant"] == v), key=lambda r: r["seed"])
            for v in dict.fromkeys(r["variant"] for r in mine)
        }
        baseline = [r["accuracy"] for r in by_variant["real"]]
        others = [v for v in by_variant if v != "real"]
        tests = {v: paired_difference([r["accuracy"] for r in by_variant[v]], baseline) for v in others}
        adjusted = dict(zip(others, holm([tests[v][2] for v in others])))
        lines += [
            f"## {classifier}",
            "",
            "| variant | " + " | ".join(n for _, n in SCORES) + " | Δ accuracy vs real | p (paired t) | p (Holm) |",
        ]
        lines.append("|" + " --- |" * (len(SCORES) + 4))
        for variant, runs in by_variant.items():
            cells = [fmt(*mean_ci([r[k] for r in runs])) for k, _ in SCORES]
            if variant == "real":
                cells += ["", "", ""]
            else:
                d, half, p = tests[variant]
                cells += [fmt(d, half), f"{p:.3g}", f"{adjusted[variant]:.3g}"]
            lines.append(f"| {variant} | " + " | ".join(cells) + " |")
        if robustness:
            lines += [
                "",
                f"Robust accuracy on {rows[0]['robust_images']} test images (mean over seeds, percent):",
                "",
                "| variant | " + " | ".join(robustness) + " |",
            ]
            lines.append("|" + " --- |" * (len(robustness) + 1))
            for variant, runs in by_variant.items():
                lines.append(
                    f"| {variant} | "
                    + " | ".join(f"{100 * mean_ci([r[k] for r in runs])[0]:.2f}" for k in robustness)
                    + " |"
                )
        lines += ["", conclusion(classifier, tests, adjusted, seeds)]
        lines += ["", over_classic(classifier, by_variant, seeds)] if "classic" in by_variant and seeds > 1 else []
        lines.append("")
    return "\n".join(lines)


def over_classic(classifier: str, by_variant: dict[str, list[dict]], seeds: int) -> str:
    """What generated images add on top of classic augmentation: each `gan xR+classic` against `classic`."""
    classic = [r["accuracy"] for r in by_variant["classic"]]
    both = [v for v in by_variant if v.endswith("+classic")]
    tests = {v: paired_difference([r["accuracy"] for r in by_variant[v]], classic) for v in both}
    adjusted = dict(zip(both, holm([tests[v][2] for v in both])))
    parts = [f"{v} {fmt(tests[v][0], tests[v][1])} points (p = {adjusted[v]:.3g})" for v in both]
    significant = any(p < 0.05 for p in adjusted.values())
    verdict = "a significant" if significant else "no significant"
    return (
        f"Generated images on top of classic augmentation ({classifier}, paired over {seeds} seeds, Holm-corrected): "
        + "; ".join(parts)
        + f" — {verdict} difference."
    )


def conclusion(classifier: str, tests: dict, adjusted: dict, seeds: int) -> str:
    if not tests:
        return f"Conclusion ({classifier}): only the real-data baseline was run."
    best = max(tests, key=lambda v: tests[v][0])
    d, half, _ = tests[best]
    ci = "" if math.isnan(half) else f" (95% CI {100 * (d - half):+.2f} to {100 * (d + half):+.2f})"
    significant = [v for v in tests if adjusted[v] < 0.05]
    if seeds < 2:
        verdict = "one seed cannot show whether any difference is significant"
    elif significant:
        verdict = "significant after Holm correction: " + ", ".join(
            f"{v} ({100 * tests[v][0]:+.2f}, p = {adjusted[v]:.3g})" for v in significant
        )
    else:
        verdict = (
            f"no variant differs significantly from real-only (paired t-tests over {seeds} seeds, "
            "Holm-corrected, α = 0.05)"
        )
    largest = f"the largest mean change in test accuracy is {best} at {100 * d:+.2f} points{ci}"
    return f"Conclusion ({classifier}): {largest}; {verdict}."
