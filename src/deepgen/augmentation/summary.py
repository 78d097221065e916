"""The results over seeds, clean and robust alike: for every score (accuracy, balanced accuracy, macro-F1) and every
robust column (each attack and budget, noise, blur), mean ± 95% CI, the paired difference of each variant against
its baseline (generated images on top of classic augmentation and/or adversarial training against the same training
without them; adversarial training against the same data without it; classic against real-only) with the paired
t-test (Holm over the variants compared with one baseline) and McNemar's test on the test images pooled over seeds;
and a conclusion that names the largest change, clean and robust, with its sign, and what would settle it. No
p-value where a test cannot speak (fewer than 3 seeds, a difference that never varies). A classifier that learned
nothing (one class for every image, or balanced accuracy at chance) is named, and its robust numbers — the majority
share, not robustness — are left out of the robust comparisons."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from deepgen.augmentation.stats import MIN_SEEDS, mcnemar, mean_ci, paired_difference, seeds_needed, unpack, untestable
from deepgen.report import Table, markdown
from deepgen.training.health import Episode, describe, verdict

SCORES = [("accuracy", "accuracy"), ("balanced_accuracy", "balanced acc."), ("macro_f1", "macro-F1")]
TESTS = ["Δ accuracy vs real", "p (paired t)", "p (Holm)", "p (McNemar, pooled)"]
ROBUST = ["baseline", "robust", "Δ vs baseline", "p (paired t)", "p (Holm)", "p (McNemar, pooled)"]
CORRUPTIONS = ("noise", "blur")  # robust columns that are no attack
LIBRARY = {"autoattack": "AutoAttack", "apgd": "APGD"}  # attacks scored beside PGD (augmentation/robustness.py)
MASKING = 0.10  # PGD above AutoAttack by more than this (a share) at one budget: possible gradient masking
IDENTICAL = "identical on every seed"  # in place of a p-value, which is undefined when no difference varies
SHARES = ("accuracy", "balanced_accuracy", "macro_f1")  # scores in [0, 1]; robust columns are too
OVERFITTING = ("val_robust_best", "val_robust_last", "val_robust_gap")  # --select robust: kept, last, their gap
ADVICE = (
    "try a smaller --synthetic-fraction, a smaller --adv-eps, or more --max-steps; a classifier that predicts one "
    "class scores the majority share clean and under every attack alike"
)


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


def fmt_share(mean: float, half: float) -> str:
    """A share in percent with its 95% CI kept within [0, 100]: '91.20 ± 2.10', or '98.25 (90.70 to 100.00)' where
    mean ± half would pass a bound."""
    if math.isnan(half) or (half <= mean and mean + half <= 1):
        return fmt(mean, half)
    return f"{100 * mean:.2f} ({100 * max(0.0, mean - half):.2f} to {100 * min(1.0, mean + half):.2f})"


def robust_columns(rows: list[dict]) -> list[str]:
    """The robust columns of the rows ('fgsm@0.1', 'pgd@0.1', 'noise@0.2', 'blur@1', ...)."""
    return [k for k in rows[0] if "@" in k]


def learned_nothing(row: dict) -> bool:
    return bool(row.get("learned_nothing"))


def answers(row: dict, key: str) -> str:
    """The packed right/wrong answers of a row on the test images, clean or under robust column `key`."""
    if key in SHARES:
        return row.get("correct") or ""
    return json.loads(row.get("robust_correct") or "{}").get(key, "")


@dataclass
class Comparison:
    """`variant` against `baseline` on one score `key`, paired over the seeds both have (robust columns: only the
    seeds where neither classifier learned nothing)."""

    variant: str
    baseline: str
    key: str
    values: list[float]
    reference: list[float]
    left_out: int  # seeds left out (a classifier that learned nothing)
    test: tuple[float, float, float]  # mean difference, CI half-width, paired t p-value
    why_not: str | None
    per_image: tuple[int, int, float] | None  # McNemar: only the variant right, only the baseline right, p
    test_images: int
    adjusted: float = math.nan

    @classmethod
    def of(cls, runs: list[dict], base: list[dict], variant: str, baseline: str, key: str) -> Comparison:
        pairs = list(zip(runs, base))
        robust = key not in SHARES
        kept = [(a, b) for a, b in pairs if not (robust and (learned_nothing(a) or learned_nothing(b)))]
        values, reference = [a[key] for a, _ in kept], [b[key] for _, b in kept]
        mine = [unpack(answers(a, key)) for a, _ in kept if answers(a, key)]
        theirs = [unpack(answers(b, key)) for _, b in kept if answers(b, key)]
        per_image = mcnemar(mine, theirs) if mine and len(mine) == len(theirs) == len(kept) else None
        images = len(mine[0]) if mine else 0
        test = paired_difference(values, reference) if values else (math.nan, math.nan, math.nan)
        why = untestable(values, reference) if values else "not scored: every classifier here learned nothing"
        return cls(variant, baseline, key, values, reference, len(pairs) - len(kept), test, why, per_image, images)

    @property
    def identical(self) -> bool:
        return bool(self.values) and self.values == self.reference

    def p(self, adjusted: bool = False) -> str:
        """The p-value (Holm-adjusted with `adjusted`), or why there is none."""
        if self.identical:
            return IDENTICAL
        if self.why_not:
            return self.why_not
        return f"{self.adjusted if adjusted else self.test[2]:.3g}"

    def mcnemar(self) -> str:
        """'p (+a/-b images)': McNemar's p and the test images only the variant / only the baseline got right."""
        if self.per_image is None:
            return ""
        better, worse, p = self.per_image
        return "no image differs" if math.isnan(p) else f"{p:.3g} (+{better}/-{worse} images)"

    def significant(self) -> bool:
        return not math.isnan(self.adjusted) and self.adjusted < 0.05

    def settles(self) -> str:
        """What would settle a difference that is not significant: the seeds a paired t-test needs to detect it at
        80% power, or that the test split is too small to show it."""
        d, _, _ = self.test
        if self.test_images and abs(d) < 2 / self.test_images:
            return f"the test split is too small: {self.test_images} images, and the change is under 2 of them"
        needed = seeds_needed([a - b for a, b in zip(self.values, self.reference)])
        if needed is None:
            return "no number of seeds would: the difference never varies or is zero"
        return f"about {needed} seeds would detect it at 80% power (paired t, α = 0.05; now {len(self.values)})"


def compare(by_variant: dict[str, list[dict]], baseline: str, variants: list[str], key: str) -> list[Comparison]:
    """Each variant against `baseline` on `key`, Holm-adjusted over the variants."""
    found = [Comparison.of(by_variant[v], by_variant[baseline], v, baseline, key) for v in variants]
    for c, p in zip(found, holm([c.test[2] if not c.why_not else math.nan for c in found])):
        c.adjusted = p
    return found


@dataclass
class Study:
    """One classifier's runs (at one size) by variant, sorted by seed; its comparisons against real-only (clean) and
    of each variant against its own baseline (clean and every robust column)."""

    classifier: str
    by_variant: dict[str, list[dict]]
    vs_real: dict[str, Comparison]
    own: dict[str, list[Comparison]] = field(default_factory=dict)  # by key: every variant against its baseline
    overfitting: dict[str, list[Comparison]] = field(default_factory=dict)  # the same, on OVERFITTING's keys

    @classmethod
    def of(cls, classifier: str, by_variant: dict[str, list[dict]], keys: list[str]) -> Study:
        others = [v for v in by_variant if v != "real"]
        vs_real = (
            {c.variant: c for c in compare(by_variant, "real", others, "accuracy")} if "real" in by_variant else {}
        )
        groups = by_baseline(by_variant)
        own = {key: [c for b, vs in groups.items() for c in compare(by_variant, b, vs, key)] for key in keys}
        overfitting = {
            key: [c for b, vs in groups.items() for c in compare(by_variant, b, scored(by_variant, vs, b, key), key)]
            for key in OVERFITTING
            if any(scored(by_variant, [v], None, key) for v in by_variant)
        }
        return cls(classifier, by_variant, vs_real, own, overfitting)

    def cells(self, variant: str) -> list[str]:
        """Scores (mean ± CI) and, unless `variant` is real-only, its difference from real-only and p-values."""
        runs = self.by_variant[variant]
        cells = [fmt_share(*mean_ci([r[k] for r in runs])) for k, _ in SCORES]
        c = self.vs_real.get(variant)
        if c is None:
            return cells + [""] * len(TESTS)
        return cells + [fmt(*c.test[:2]), c.p(), c.p(adjusted=True), c.mcnemar()]

    def robust_cells(self, variant: str, key: str) -> list[str]:
        """The score `key` (robust columns: mean ± CI over the seeds whose classifier learned something) and, where
        the variant has a baseline, the paired comparison."""
        runs = [r for r in self.by_variant[variant] if key in SHARES or not learned_nothing(r)]
        left = len(self.by_variant[variant]) - len(runs)
        score = fmt_share(*mean_ci([r[key] for r in runs])) if runs else "not scored"
        score += f" ({left} of {len(self.by_variant[variant])} seeds learned nothing)" if left else ""
        compared = self.own.get(key, []) + self.overfitting.get(key, [])
        c = next((c for c in compared if c.variant == variant), None)
        if c is None:
            return ["", score, "", "", "", ""]
        return [c.baseline, score, fmt(*c.test[:2]) if c.values else "", c.p(), c.p(adjusted=True), c.mcnemar()]


def scored(by_variant: dict[str, list[dict]], variants: list[str], baseline: str | None, key: str) -> list[str]:
    """The variants (and their baseline) whose every run has a value for `key`."""

    def full(v: str) -> bool:
        return all(r.get(key) not in (None, "") for r in by_variant[v])

    return [v for v in variants if full(v) and (baseline is None or full(baseline))]


def by_baseline(by_variant: dict[str, list[dict]]) -> dict[str, list[str]]:
    """The variants compared with each baseline (recorded in their rows as `baseline`; in older results, '...
    +classic' variants with 'classic')."""
    groups: dict[str, list[str]] = {}
    for variant, runs in by_variant.items():
        recorded = runs[0].get("baseline")
        baseline = recorded if recorded is not None else "classic" if variant.endswith("+classic") else ""
        if baseline and baseline in by_variant and baseline != variant:
            groups.setdefault(baseline, []).append(variant)
    return groups


def studies(rows: list[dict]) -> list[Study]:
    """Per classifier (and images per class, on a curve)."""
    out = []
    several = len({r.get("per_class") for r in rows}) > 1
    keys = ["accuracy", *robust_columns(rows)]
    for classifier, per_class in dict.fromkeys((r["classifier"], r.get("per_class")) for r in rows):
        mine = [r for r in rows if r["classifier"] == classifier and r.get("per_class") == per_class]
        name = f"{classifier}, {per_class} per class" if several else classifier
        by_variant = {
            v: sorted((r for r in mine if r["variant"] == v), key=lambda r: r["seed"])
            for v in dict.fromkeys(r["variant"] for r in mine)
        }
        out.append(Study.of(name, by_variant, keys))
    return out


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
        lines.append(f"{healthy} other generator{'s' if healthy > 1 else ''} trained without a warning.")
    return lines


def markdown_lines(columns: list[str], body: list[list[str]]) -> list[str]:
    """A Markdown table as lines (report.markdown: a cell per column, '|' escaped)."""
    return markdown(Table(columns, body)).strip().splitlines()


def classic_line(rows: list[dict]) -> str:
    """Which classic augmentation the classic variants used; with --classic-kind auto, each seed's choice and the
    mean validation accuracy of every kind it was chosen from."""
    kinds = sorted({r["classic_kind"] for r in rows if r.get("classic_kind")})
    choices = {int(r["seed"]): json.loads(r["classic_choice"]) for r in rows if r.get("classic_choice")}
    if not choices:
        return f"classic = {', '.join(kinds)} augmentation." if kinds else ""
    picked = {int(r["seed"]): r["classic_kind"] for r in rows if r.get("classic_choice")}  # the chosen candidates
    per_kind = [f"{k} on seed(s) {', '.join(str(s) for s in picked if picked[s] == k)}" for k in kinds]
    means = [f"{k} {100 * mean_ci([c[k] for c in choices.values()])[0]:.2f}" for k in next(iter(choices.values()))]
    return (
        f"classic = each seed's classic augmentation of best validation accuracy (--classic-kind auto): "
        f"{'; '.join(per_kind)} (mean validation accuracy: {', '.join(means)} %)."
    )


def summarise(rows: list[dict], seeds: int, health: list[str] = ()) -> str:
    lines = [f"# Real vs real + synthetic: test scores over {seeds} seed(s), mean ± 95% CI (percent)", ""]
    robustness = robust_columns(rows)
    for study in studies(rows):
        lines += [f"## {study.classifier}", ""]
        columns = ["variant", *(n for _, n in SCORES), *(TESTS if study.vs_real else [])]
        body = [[v, *study.cells(v)[: len(columns) - 1]] for v in study.by_variant]
        lines += markdown_lines(columns, body)
        kinds = classic_line([r for runs in study.by_variant.values() for r in runs])
        lines += ["", kinds] if kinds else []
        compared = [f"{c.variant} with {c.baseline}" for c in study.own["accuracy"]]
        lines += ["", "Each variant is compared with its baseline: " + "; ".join(compared) + "."] if compared else []
        lines += ["", *why_some_tests_run(study)]
        if study.own["accuracy"]:
            lines += ["", "### Test accuracy against each variant's baseline", ""]
            table = [[v, *study.robust_cells(v, "accuracy")] for v in study.by_variant]
            lines += markdown_lines(["variant", "baseline", "accuracy", *ROBUST[2:]], table)
        for key in robustness:
            attacked = key.split("@")[0] not in CORRUPTIONS
            attack = f"; attack: {rows[0]['robust_attack']}" if rows[0].get("robust_attack") and attacked else ""
            lines += ["", f"### Robust accuracy, {key} ({rows[0].get('robust_images', '?')} test images{attack})", ""]
            lines += markdown_lines(["variant", *ROBUST], [[v, *study.robust_cells(v, key)] for v in study.by_variant])
        lines += overfitting_lines(study)
        lines += ["", *flagged(study)] if flagged(study) else []
        lines += ["", *masking(study)] if masking(study) else []
        lines += ["", *conclusion(study, seeds)]
        lines.append("")
    if health:
        lines += ["## Generator training health", "", *[f"- {line}" for line in health], ""]
    return "\n".join(lines)


def overfitting_lines(study: Study) -> list[str]:
    """Robust overfitting per variant (--select robust): validation robust accuracy at the kept checkpoint and at the
    last step, and the gap between them, compared with the baseline's gap."""
    variants = scored(study.by_variant, list(study.by_variant), None, "val_robust_gap")
    if not variants:
        return []
    body = []
    for v in variants:
        best, last, gap = (study.robust_cells(v, key) for key in OVERFITTING)
        body.append([v, gap[0], best[1], last[1], *gap[1:5]])
    columns = ["variant", "baseline", "best", "last", "gap", "Δ gap vs baseline", "p (paired t)", "p (Holm)"]
    return [
        "",
        "### Robust overfitting: validation robust accuracy at the kept checkpoint (best) and at the last step",
        "",
        *markdown_lines(columns, body),
    ]


def why_some_tests_run(study: Study) -> list[str]:
    """Why McNemar's test may stand beside a paired t-test that cannot run: it pairs test images, not seeds."""
    if any(c.why_not and c.per_image for cs in study.own.values() for c in cs):
        return [
            f"The paired t-test pairs seeds and needs {MIN_SEEDS} with a varying difference; McNemar's test pairs the "
            "test images (pooled over seeds), so it can run where the t-test cannot — it treats the images as "
            "independent, which the seeds are not."
        ]
    return []


def flagged(study: Study) -> list[str]:
    """The classifiers that learned nothing, by variant and seed, and what to try."""
    found = {v: [r["seed"] for r in runs if learned_nothing(r)] for v, runs in study.by_variant.items()}
    found = {v: s for v, s in found.items() if s}
    if not found:
        return []
    first = next(r for runs in study.by_variant.values() for r in runs if learned_nothing(r))
    where = "; ".join(f"{v} (seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))})" for v, s in found.items())
    return [
        f"Learned nothing — not scored for robustness: {where} (e.g. {first['variant']}, seed {first['seed']}: "
        f"{first['learned_nothing']}). Their robust accuracy is left out of the robust comparisons and the "
        f"conclusion; {ADVICE}."
    ]


def masking(study: Study) -> list[str]:
    """Where PGD's robust accuracy stands more than MASKING above AutoAttack's (or APGD's) at the same budget, for
    a variant's mean over the seeds that learned something: PGD that cannot find what a stronger attack finds
    suggests masked gradients (Croce & Hein 2020), so that variant's PGD numbers over-state its robustness."""
    found = []
    for variant, runs in study.by_variant.items():
        kept = [r for r in runs if not learned_nothing(r)]
        for key in [k for k in (kept[0] if kept else {}) if k.split("@")[0] in LIBRARY]:
            kind, budget = key.split("@")
            pgd, strong = (sum(r[k] for r in kept) / len(kept) for k in (f"pgd@{budget}", key))
            if pgd - strong > MASKING:
                found.append(
                    f"{variant} at eps {budget}: PGD {100 * pgd:.1f} % vs {LIBRARY[kind]} {100 * strong:.1f} %"
                )
    if not found:
        return []
    return [
        f"Possible gradient masking (PGD more than {100 * MASKING:.0f} points above the stronger attack): "
        + "; ".join(found) + ". Trust the stronger attack's column there."
    ]  # fmt: skip


def largest(comparisons: list[Comparison]) -> Comparison | None:
    scored = [c for c in comparisons if c.values and not math.isnan(c.test[0])]
    return max(scored, key=lambda c: abs(c.test[0])) if scored else None


def conclusion(study: Study, seeds: int) -> list[str]:
    """The largest change in clean accuracy and in robust accuracy (any robust column), each against its baseline,
    with its sign, its CI, whether it is significant, and what would settle it if it is not."""
    if not study.own["accuracy"] and not study.vs_real:
        return [f"Conclusion ({study.classifier}): only the real-data baseline was run."]
    clean = largest(study.own["accuracy"] + list(study.vs_real.values()))
    robust = largest([c for key, cs in study.own.items() if key != "accuracy" for c in cs])
    lines = [f"Conclusion ({study.classifier}, paired over {seeds} seeds):"]
    for what, c in (("test accuracy", clean), ("robust accuracy", robust)):
        if c is not None:
            lines.append(f"- {effect(c, what)}")
    return lines


def effect(c: Comparison, what: str) -> str:
    d, half, _ = c.test
    ci = "" if math.isnan(half) else f" (95% CI {100 * (d - half):+.2f} to {100 * (d + half):+.2f})"
    column = "" if c.key == "accuracy" else f" under {c.key}"
    head = f"the largest change in {what}{column} is {c.variant} against {c.baseline}: {100 * d:+.2f} points{ci}"
    left = f"; {c.left_out} seed(s) left out where a classifier learned nothing" if c.left_out else ""
    if c.identical:
        return f"{head}: {IDENTICAL}{left}."
    if c.why_not:
        return f"{head}: {c.why_not}{left}."
    if c.significant():
        return f"{head}, significant (p = {c.adjusted:.3g}, Holm){left}."
    return f"{head}, not significant (p = {c.adjusted:.3g}, Holm){left}; {c.settles()}."


def results_table(rows: list[dict], seeds: int) -> Table:
    """Every classifier and variant in one table (percent, mean ± 95% CI over seeds; each robust column with its
    difference from the variant's baseline and Holm p), conclusions as notes."""
    robustness = robust_columns(rows)
    columns = ["classifier", "variant", *(n for _, n in SCORES), *TESTS, *robustness]
    body = []
    for s in studies(rows):
        for v in s.by_variant:
            robust = [s.robust_cells(v, k) for k in robustness]
            body.append(
                [s.classifier, v, *s.cells(v), *(r[1] + (f"; Δ {r[2]}, p {r[4]}" if r[2] else "") for r in robust)]
            )
    notes = [line.removeprefix("- ") for s in studies(rows) for line in [*flagged(s), *conclusion(s, seeds)]]
    return Table(columns, body, notes)
