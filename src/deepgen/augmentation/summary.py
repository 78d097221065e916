"""The results table over seeds, with paired tests against the real-only baseline and of each variant against the
baseline it is compared with (generated images on top of classic augmentation and/or adversarial training against
the same training without them; adversarial training against the same data without it), and a plain conclusion,
as markdown or a Table. No p-value where the test cannot speak (fewer than 3 seeds, a difference that never varies);
McNemar's test on the test images, pooled over seeds, beside it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from deepgen.augmentation.stats import MIN_SEEDS, mcnemar, mean_ci, paired_difference, unpack, untestable
from deepgen.report import Table
from deepgen.training.health import Episode, describe, verdict

SCORES = [("accuracy", "accuracy"), ("balanced_accuracy", "balanced acc."), ("macro_f1", "macro-F1")]
TESTS = ["Δ accuracy vs real", "p (paired t)", "p (Holm)", "p (McNemar, pooled)"]
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
    baseline: str = "real"
    why_not: dict[str, str] = field(default_factory=dict)  # why a variant's paired test gives no p-value
    per_image: dict[str, tuple[int, int, float]] = field(default_factory=dict)  # McNemar, where answers are kept

    @classmethod
    def of(cls, classifier: str, by_variant: dict[str, list[dict]], baseline: str, variants: list[str]) -> Study:
        reference = [r["accuracy"] for r in by_variant[baseline]]
        accuracy = {v: [r["accuracy"] for r in by_variant[v]] for v in variants}
        tests = {v: paired_difference(accuracy[v], reference) for v in variants}
        adjusted = dict(zip(variants, holm([tests[v][2] for v in variants])))
        why = {v: w for v in variants if (w := untestable(accuracy[v], reference))}
        answers = {v: [unpack(r["correct"]) for r in by_variant[v] if r.get("correct")] for v in [baseline, *variants]}
        per_image = {
            v: mcnemar(answers[v], answers[baseline])
            for v in variants
            if answers[v] and len(answers[v]) == len(answers[baseline]) == len(by_variant[v])
        }
        identical = {v for v in variants if accuracy[v] == reference}
        return cls(classifier, by_variant, tests, adjusted, identical, baseline, why, per_image)

    def p(self, variant: str, adjusted: bool = False) -> str:
        """The p-value of `variant`'s paired test (Holm-adjusted with `adjusted`), or why there is none."""
        if variant in self.identical:
            return IDENTICAL
        if variant in self.why_not:
            return self.why_not[variant]
        return f"{self.adjusted[variant] if adjusted else self.tests[variant][2]:.3g}"

    def mcnemar(self, variant: str) -> str:
        """'p (+a/-b images)': McNemar's p and the test images only the variant / only the baseline got right."""
        if variant not in self.per_image:
            return ""
        better, worse, p = self.per_image[variant]
        return "no image differs" if math.isnan(p) else f"{p:.3g} (+{better}/-{worse} images)"

    def cells(self, variant: str) -> list[str]:
        """Scores (mean ± CI) and, unless `variant` is the baseline, its difference and p-values."""
        runs = self.by_variant[variant]
        cells = [fmt(*mean_ci([r[k] for r in runs])) for k, _ in SCORES]
        if variant not in self.tests:
            return cells + [""] * (len(TESTS))
        d, half, _ = self.tests[variant]
        return cells + [fmt(d, half), self.p(variant), self.p(variant, adjusted=True), self.mcnemar(variant)]

    def robust(self, variant: str, keys: list[str]) -> list[str]:
        """Mean robust accuracy (percent) under each attack or corruption in `keys`."""
        return [f"{100 * mean_ci([r[k] for r in self.by_variant[variant]])[0]:.2f}" for k in keys]


def studies(rows: list[dict]) -> list[tuple[Study, list[Study]]]:
    """Per classifier (and images per class, on a curve): the tests against real-only, and those of each variant
    against its own baseline (see by_baseline)."""
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
        out.append((vs_real, [Study.of(classifier, by_variant, b, vs) for b, vs in by_baseline(by_variant).items()]))
    return out


def by_baseline(by_variant: dict[str, list[dict]]) -> dict[str, list[str]]:
    """The variants compared with each baseline other than real-only (recorded in their rows as `baseline`; in
    older results, '... +classic' variants with 'classic')."""
    groups: dict[str, list[str]] = {}
    for variant, runs in by_variant.items():
        recorded = runs[0].get("baseline")
        baseline = recorded if recorded is not None else "classic" if variant.endswith("+classic") else ""
        if baseline and baseline != "real" and baseline in by_variant and baseline != variant:
            groups.setdefault(baseline, []).append(variant)
    return groups


def conclusions(rows: list[dict], seeds: int) -> list[str]:
    lines = []
    for vs_real, others in studies(rows):
        lines.append(conclusion(vs_real, seeds))
        lines += [over_baseline(study, seeds) for study in others] if seeds > 1 else []
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
    kinds = sorted({r["classic_kind"] for r in rows if r.get("classic_kind")})
    for vs_real, others in studies(rows):
        lines += [
            f"## {vs_real.classifier}",
            "",
            "| variant | " + " | ".join([n for _, n in SCORES] + TESTS) + " |",
        ]
        lines.append("|" + " --- |" * (len(SCORES) + 4))
        lines += [f"| {v} | " + " | ".join(vs_real.cells(v)) + " |" for v in vs_real.by_variant]
        if kinds:
            lines += ["", f"classic = {', '.join(kinds)} augmentation."]
        compared = [f"{v} with {s.baseline}" for s in others for v in s.tests]
        lines += ["", "Each variant is compared with real-only and: " + "; ".join(compared) + "."] if compared else []
        if robustness:
            attack = f"; attack: {rows[0]['robust_attack']}" if rows[0].get("robust_attack") else ""
            lines += ["", f"Robust accuracy on {rows[0]['robust_images']} test images (mean over seeds, percent"]
            lines[-1] += f"; budgets in [0, 1] pixel units{attack}):"
            lines.append("")
            lines += ["| variant | clean | " + " | ".join(robustness) + " |", "|" + " --- |" * (len(robustness) + 2)]
            keys = ["accuracy", *robustness]
            lines += [f"| {v} | " + " | ".join(vs_real.robust(v, keys)) + " |" for v in vs_real.by_variant]
        lines += ["", conclusion(vs_real, seeds)]
        for study in others if seeds > 1 else []:
            lines += ["", over_baseline(study, seeds)]
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


def baseline_words(baseline: str) -> str:
    """A baseline's name in words: 'classic' -> 'classic augmentation', 'classic+fgsm-AT' -> 'classic augmentation
    with fgsm adversarial training'."""
    data, _, at = baseline.partition("+")
    words = {"classic": "classic augmentation", "real": "real images only"}.get(data, data)
    return words + (f" with {at.removesuffix('-AT')} adversarial training" if at else "")


def over_baseline(study: Study, seeds: int) -> str:
    """What each variant adds to its baseline (e.g. `gan xR+classic` to `classic`)."""
    parts = [
        f"{v} {IDENTICAL}" if v in study.identical else f"{v} {fmt(d, half)} points (p = {study.p(v, adjusted=True)})"
        for v, (d, half, _) in study.tests.items()
    ]
    best = max(study.tests, key=lambda v: study.tests[v][0])
    better = study.tests[best][0] > 0 and study.adjusted[best] < 0.05
    if seeds < MIN_SEEDS:
        verdict = f"fewer than {MIN_SEEDS} seeds: not tested"
    else:
        significant = any(p < 0.05 for p in study.adjusted.values())
        verdict = ("a significant" if significant else "no significant") + " difference"
    generated = all(study.by_variant[v][0].get("generator", True) for v in study.tests)
    subject = "Generated images" if generated else "Variants"
    return (
        f"{subject} on top of {baseline_words(study.baseline)} ({study.classifier}, paired over {seeds} seeds, "
        f"Holm-corrected; the best, {best}, {'beats' if better else 'does not beat'} {baseline_words(study.baseline)} "
        "significantly): " + "; ".join(parts) + f" — {verdict}."
    )


def conclusion(study: Study, seeds: int) -> str:
    tests, adjusted = study.tests, study.adjusted
    if not tests:
        return f"Conclusion ({study.classifier}): only the real-data baseline was run."
    best = max(tests, key=lambda v: tests[v][0])
    d, half, _ = tests[best]
    ci = "" if math.isnan(half) else f" (95% CI {100 * (d - half):+.2f} to {100 * (d + half):+.2f})"
    significant = [v for v in tests if adjusted[v] < 0.05]
    if seeds < MIN_SEEDS:
        verdict = f"{seeds} seed(s) cannot show whether any difference is significant ({MIN_SEEDS} needed)"
    elif len(study.why_not) == len(tests):
        verdict = "no variant could be tested: " + "; ".join(f"{v}: {w}" for v, w in study.why_not.items())
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
