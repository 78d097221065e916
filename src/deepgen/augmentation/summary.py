"""The results table over seeds, with paired tests against the real-only baseline (and of generated images
on top of classic augmentation against classic alone) and a plain conclusion, as markdown or a Table."""

from __future__ import annotations

import math
from dataclasses import dataclass

from deepgen.augmentation.stats import mean_ci, paired_difference
from deepgen.report import Table
from deepgen.training.health import Episode, describe, verdict

SCORES = [("accuracy", "accuracy"), ("balanced_accuracy", "balanced acc."), ("macro_f1", "macro-F1")]
TESTS = ["Δ accuracy vs real", "p (paired t)", "p (Holm)"]
IDENTICAL = "identical on every seed"  # in place of a p-value, which is undefined when no difference varies


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


@dataclass
class Study:
    """One classifier's runs by variant (sorted by seed) and each variant's paired test against `baseline`."""

    classifier: str
    by_variant: dict[str, list[dict]]
    tests: dict[str, tuple[float, float, float]]
    adjusted: dict[str, float]
    identical: set[str]  # variants with the baseline's accuracy on every seed

    @classmethod
    def of(cls, classifier: str, by_variant: dict[str, list[dict]], baseline: str, variants: list[str]) -> Study:
        reference = [r["accuracy"] for r in by_variant[baseline]]
        accuracy = {v: [r["accuracy"] for r in by_variant[v]] for v in variants}
        tests = {v: paired_difference(accuracy[v], reference) for v in variants}
        adjusted = dict(zip(variants, holm([tests[v][2] for v in variants])))
        return cls(classifier, by_variant, tests, adjusted, {v for v in variants if accuracy[v] == reference})

    def p(self, variant: str, adjusted: bool = False) -> str:
        """The p-value of `variant`'s paired test (Holm-adjusted with `adjusted`), or why there is none."""
        if variant in self.identical:
            return IDENTICAL
        return f"{self.adjusted[variant] if adjusted else self.tests[variant][2]:.3g}"

    def cells(self, variant: str) -> list[str]:
        """Scores (mean ± CI) and, unless `variant` is the baseline, its difference and p-values."""
        runs = self.by_variant[variant]
        cells = [fmt(*mean_ci([r[k] for r in runs])) for k, _ in SCORES]
        if variant not in self.tests:
            return cells + ["", "", ""]
        d, half, _ = self.tests[variant]
        return cells + [fmt(d, half), self.p(variant), self.p(variant, adjusted=True)]

    def robust(self, variant: str, keys: list[str]) -> list[str]:
        """Mean robust accuracy (percent) under each attack or corruption in `keys`."""
        return [f"{100 * mean_ci([r[k] for r in self.by_variant[variant]])[0]:.2f}" for k in keys]


def studies(rows: list[dict]) -> list[tuple[Study, Study | None]]:
    """Per classifier (and images per class, on a curve): the tests against real-only, and those of each
    `... +classic` variant against `classic`."""
    out = []
    several = len({r.get("per_class") for r in rows}) > 1
    for classifier, per_class in dict.fromkeys((r["classifier"], r.get("per_class")) for r in rows):
        mine = [r for r in rows if r["classifier"] == classifier and r.get("per_class") == per_class]
        classifier = f"{classifier}, {per_class} per class" if several else classifier
        by_variant = {
            v: sorted((r for r in mine if r["variant"] == v), key=lambda r: r["seed"])
            for v in dict.fromkeys(r["variant"] for r in mine)
        }
        vs_real = Study.of(classifier, by_variant, "real", [v for v in by_variant if v != "real"])
        both = [v for v in by_variant if v.endswith("+classic")]
        out.append((vs_real, Study.of(classifier, by_variant, "classic", both) if both else None))
    return out


def conclusions(rows: list[dict], seeds: int) -> list[str]:
    lines = []
    for vs_real, vs_classic in studies(rows):
        lines.append(conclusion(vs_real, seeds))
        lines += [over_classic(vs_classic, seeds)] if vs_classic is not None and seeds > 1 else []
    return lines


def health_lines(episodes_by_run: dict[str, list[Episode]]) -> list[str]:
    """The generators' training health: the runs that stayed broken (a symptom still there at the end), then those
    that recovered (every symptom warned of cleared), each with its warnings; then how many were healthy."""
    lines = []
    for state, words in (("broken", "stayed broken"), ("recovered", "recovered")):
        for run, found in episodes_by_run.items():
            if verdict(found) == state:
                lines.append(f"{run} {words}: " + " ".join(describe(found)))
    healthy = sum(not found for found in episodes_by_run.values())
    if lines and healthy:
        lines.append(f"{healthy} other generator(s) trained without a warning.")
    return lines


def summarise(rows: list[dict], seeds: int, health: list[str] = ()) -> str:
    lines = [f"# Real vs real + synthetic: test scores over {seeds} seed(s), mean ± 95% CI (percent)", ""]
    robustness = [k for k in rows[0] if "@" in k]
    for vs_real, vs_classic in studies(rows):
        lines += [
            f"## {vs_real.classifier}",
            "",
            "| variant | " + " | ".join([n for _, n in SCORES] + TESTS) + " |",
        ]
        lines.append("|" + " --- |" * (len(SCORES) + 4))
        lines += [f"| {v} | " + " | ".join(vs_real.cells(v)) + " |" for v in vs_real.by_variant]
        if robustness:
            lines += ["", f"Robust accuracy on {rows[0]['robust_images']} test images (mean over seeds, percent):", ""]
            lines += ["| variant | " + " | ".join(robustness) + " |", "|" + " --- |" * (len(robustness) + 1)]
            lines += [f"| {v} | " + " | ".join(vs_real.robust(v, robustness)) + " |" for v in vs_real.by_variant]
        lines += ["", conclusion(vs_real, seeds)]
        lines += ["", over_classic(vs_classic, seeds)] if vs_classic is not None and seeds > 1 else []
        lines.append("")
    if health:
        lines += ["## Generator training health", "", *[f"- {line}" for line in health], ""]
    return "\n".join(lines)


def results_table(rows: list[dict], seeds: int) -> Table:
    """Every classifier and variant in one table (percent, mean ± 95% CI over seeds), conclusions as notes."""
    robustness = [k for k in rows[0] if "@" in k]
    columns = ["classifier", "variant", *(n for _, n in SCORES), *TESTS, *robustness]
    body = [[s.classifier, v, *s.cells(v), *s.robust(v, robustness)] for s, _ in studies(rows) for v in s.by_variant]
    return Table(columns, body, conclusions(rows, seeds))


def over_classic(study: Study, seeds: int) -> str:
    """What generated images add on top of classic augmentation: each `gan xR+classic` against `classic`."""
    parts = [
        f"{v} {IDENTICAL}" if v in study.identical else f"{v} {fmt(d, half)} points (p = {study.p(v, adjusted=True)})"
        for v, (d, half, _) in study.tests.items()
    ]
    best = max(study.tests, key=lambda v: study.tests[v][0])
    better = study.tests[best][0] > 0 and study.adjusted[best] < 0.05
    verdict = "a significant" if any(p < 0.05 for p in study.adjusted.values()) else "no significant"
    return (
        f"Generated images on top of classic augmentation ({study.classifier}, paired over {seeds} seeds, "
        f"Holm-corrected; the best, {best}, {'beats' if better else 'does not beat'} classic augmentation "
        "significantly): " + "; ".join(parts) + f" — {verdict} difference."
    )


def conclusion(study: Study, seeds: int) -> str:
    tests, adjusted = study.tests, study.adjusted
    if not tests:
        return f"Conclusion ({study.classifier}): only the real-data baseline was run."
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
    return f"Conclusion ({study.classifier}): {largest}; {verdict}."
