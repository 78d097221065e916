"""Train several models under one budget and the same seeds, evaluate them alike, and report:

OUT/compare.json        the settings: running the same comparison again continues it
OUT/runs/MODEL-seedS/   each trained run (with its metrics.json)
OUT/results.csv         one row per run: budget used, wall time, parameters, every metric
OUT/results.md          the table (mean ± std over seeds) and how each metric was computed
OUT/report.html         the same, with sample grids, reconstructions and loss curves, in one file
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deepgen.config import RunConfig, flag
from deepgen.data import resolved
from deepgen.errors import ConfigError, Interrupted
from deepgen.eval.evaluate import Judge, write_metrics
from deepgen.eval.evaluator import ACCURACY, accuracy_label, weak_warning
from deepgen.eval.metrics import Metric
from deepgen.eval.settings import Settings
from deepgen.io import atomic_write_text
from deepgen.registry import get_model
from deepgen.report import Gallery, Table, csv_text, markdown, write_html
from deepgen.run import RESULTS, checkpoints, open_run
from deepgen.training.runlock import claim, locked
from deepgen.training.trainer import train

UNITS = {"s": 1, "m": 60, "h": 3600}
RECORD = "compare.json"  # the settings of the comparison in OUT
REAL = "real data"
SPEED = "sample_img_per_s"
ARROWS = {"lower": " ↓", "higher": " ↑", "": ""}


@dataclass
class Budget:
    steps: int | None = None
    seconds: float | None = None

    def __str__(self) -> str:
        return f"{self.steps} steps" if self.steps is not None else f"{self.seconds:g} s of training"


def parse_budget(text: str) -> Budget:
    """'2000' -> 2000 steps; '90s', '10m', '1.5h' -> a training time limit."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match or float(match[1]) <= 0 or (not match[2] and "." in match[1]):
        raise ConfigError(
            f"--budget expects a number of steps (e.g. 2000) or a time (e.g. 90s, 10m, 1.5h); got {text!r}"
        )
    if not match[2]:
        return Budget(steps=int(match[1]))
    return Budget(seconds=float(match[1]) * UNITS[match[2]])


def apply_budget(cfg: RunConfig, budget: Budget) -> None:
    """Set the steps or the time limit of `cfg` (a time budget lifts the step count out of the way)."""
    cfg.train.epochs = None
    if budget.steps is not None:
        cfg.train.steps, cfg.train.time_limit = budget.steps, None
    else:
        cfg.train.steps, cfg.train.time_limit = 10**9, budget.seconds


@dataclass
class Entry:
    """One trained and evaluated run."""

    model: str
    seed: int
    run: Path
    steps: int
    wall_s: float
    parameters: int
    metrics: list[Metric]
    images: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # of the training-health monitor
    seen: int = 0  # real training images drawn
    outside_step: float | None = None  # share of the training wall time outside the training steps
    eval_s: float = 0.0  # wall time of its evaluation (sampling, metrics, CAS)


@dataclass
class Comparison:
    out: Path
    entries: list[Entry]
    floor: list[Metric]
    outputs: dict[str, Path]
    setup_s: float = 0.0  # wall time before the first model: the evaluator (trained or loaded) and the floor


def compare(
    configs: list[RunConfig], out: Path, settings: Settings, budget: Budget, log: Callable[[str], None] = print
) -> Comparison:
    """Train each config (their budgets and seeds already set), evaluate all with one Judge, write the report.
    `out` belongs to one comparison (recorded in OUT/compare.json, locked while it runs): running it again
    continues it (trained runs are kept, interrupted ones resumed), with other settings is refused."""
    if any(c.data != configs[0].data for c in configs):
        raise ConfigError(f"compare needs every model on the same data settings; got {[c.data for c in configs]}")
    data = resolved(configs[0].data, log)  # a folder's size, channels, --dedupe: chosen (and printed) once
    for cfg in configs:
        cfg.data = data
    with locked(out, flag("out")):
        claim(out, RECORD, record(configs, settings, budget), "a comparison")
        return compare_in(configs, out, settings, budget, log)


def record(configs: list[RunConfig], settings: Settings, budget: Budget) -> dict[str, object]:
    """What a continued comparison must repeat: every run's config (but where it goes and on which device), the
    evaluation settings and the budget."""
    runs = []
    for cfg in configs:
        raw = cfg.to_dict()
        raw["train"] = {k: v for k, v in raw["train"].items() if k not in ("out", "device")}
        runs.append(raw)
    return {"runs": runs, "evaluation": dataclasses.asdict(settings), "budget": str(budget)}


def compare_in(
    configs: list[RunConfig], out: Path, settings: Settings, budget: Budget, log: Callable[[str], None]
) -> Comparison:
    """`compare` once `out` is owned."""
    started = time.perf_counter()
    judge = Judge(configs[0].data, settings, log)
    floor = judge.real_metrics(cas=any(get_model(c.model).is_conditional(c.model_config) for c in configs))
    setup = time.perf_counter() - started
    log(
        f"the budget ({budget}) is each run's training; evaluation comes on top of it: {judge.n} samples per model "
        f"and their metrics (plus a CAS classifier of {settings.cas_steps} steps for conditional models). Setting up "
        f"the evaluation took {setup:.0f} s; each model's evaluation time is printed after it and in the table"
    )
    entries = []
    for cfg in configs:
        run = Path(cfg.train.out)
        if run.exists() and not checkpoints(run):  # stopped before its first checkpoint: nothing to keep
            shutil.rmtree(run)
        result = train(cfg, resume=run.exists())  # a run trained to its budget earlier just finishes again
        if result.interrupted:
            raise Interrupted(
                f"interrupted while training {cfg.model} (seed {cfg.train.seed}) at step {result.step} of "
                f"{result.run}; the same command (with {flag('out', str(out))}) continues the comparison"
            )
        wall = result.elapsed_s  # over every session: a continued comparison reports the whole training
        started = time.perf_counter()
        trained = open_run(result.checkpoint).load(judge.device)
        model, step = trained.model, trained.step
        metrics = judge.model_metrics(model, figures=result.run)
        evaluated = time.perf_counter() - started
        write_metrics(result.run / RESULTS, {"model": cfg.model, "step": step, **judge.about()}, metrics)
        images = {k: v for k, v in result.outputs.items() if k in ("samples", "reconstructions", "loss curves")}
        images |= {"closest to training": result.run / "memorisation.png"} if model.can_sample else {}
        entries.append(
            Entry(
                cfg.model, cfg.train.seed, result.run, step, wall, model.num_parameters(), metrics, images,
                trained.warnings(), result.images_seen, result.outside_step, evaluated,
            )
        )
        log(
            f"{cfg.model} (seed {cfg.train.seed}): {step} steps, {result.images_seen:,} images seen in "
            f"{wall:.0f} s; evaluated in {evaluated:.0f} s"
        )
    return write_outputs(Comparison(out, entries, floor, {}, setup), judge, budget)


def write_outputs(comparison: Comparison, judge: Judge, budget: Budget) -> Comparison:
    out, entries = comparison.out, comparison.entries
    keys = list(dict.fromkeys([m.key for m in comparison.floor] + [m.key for e in entries for m in e.metrics]))
    keys.sort(key=lambda k: k == SPEED)  # sample quality, then reconstruction and likelihood, then speed
    fixed = ["model", "seed", "steps", "images_seen", "wall_s", "outside_step", "eval_s", "parameters"]
    rows: list[list[object]] = [[REAL, *[None] * (len(fixed) - 1)] + cells(comparison.floor, keys)]
    rows += [
        [e.model, e.seed, e.steps, e.seen, round(e.wall_s, 1), e.outside_step, round(e.eval_s, 3), e.parameters]
        + cells(e.metrics, keys)
        for e in entries
    ]
    paths = {"csv": out / "results.csv", "markdown": out / "results.md", "html": out / "report.html"}
    atomic_write_text(paths["csv"], csv_text(fixed + keys, rows))
    table = summary(comparison, keys)
    intro = [
        f"{len({e.model for e in entries})} models on {judge.splits.name}, budget {budget} each, "
        f"seeds {sorted({e.seed for e in entries})}; evaluated on {judge.about()['device']}.",
        wall_time(comparison),
        f"Features: {judge.features.description}.",
        *([f"Classifier: {judge.classifier.description}."] if judge.classifier is not judge.features else []),
        *[f"Warning: {w}." for w in map(weak_warning, dict.fromkeys([judge.features, judge.classifier])) if w],
        f"'{REAL}' scores {judge.n} real training images as if generated: the floor (FID, KID) and ceiling "
        "(precision, recall, CAS) that a perfect generator would reach with these sample counts.",
        *[f"Data check: {line}" for line in judge.splits.checks],
        *[f"Training health, {e.model} (seed {e.seed}): {w}" for e in entries for w in e.warnings],
    ]
    title = f"deepgen compare: {judge.splits.name}, {budget}"
    atomic_write_text(paths["markdown"], f"# {title}\n\n" + "\n\n".join(intro) + "\n\n" + markdown(table))
    galleries = [
        Gallery(
            f"{e.model} (seed {e.seed})",
            dict(e.images),
            f"{e.steps} steps, {e.seen:,} images seen, {e.wall_s:.0f} s, {e.parameters:,} parameters; run {e.run}",
        )
        for e in entries
    ]
    write_html(paths["html"], title, intro, table, galleries)
    comparison.outputs = paths
    return comparison


def wall_time(c: Comparison) -> str:
    """Where the whole wall time went: training, evaluation, and the evaluator and real-data floor before them."""
    trained, evaluated = sum(e.wall_s for e in c.entries), sum(e.eval_s for e in c.entries)
    total = trained + evaluated + c.setup_s
    return (
        f"Wall time {total:.0f} s: training {trained:.0f} s, evaluation {evaluated:.0f} s, evaluator and real-data "
        f"floor {c.setup_s:.0f} s ({1 - trained / total:.0%} outside training)."
    )


def cells(metrics: list[Metric], keys: list[str]) -> list[float | None]:
    """The value of each metric key (None where a model has no such metric)."""
    found = {m.key: m.value for m in metrics}
    return [found.get(k) for k in keys]


def summary(comparison: Comparison, keys: list[str]) -> Table:
    """A column per model (mean ± std over seeds) beside the real data, a row per metric; notes say how
    each metric was computed."""
    every = comparison.floor + [m for e in comparison.entries for m in e.metrics]
    first = {m.key: m for m in reversed(every)}
    by_model: dict[str, list[Entry]] = {}
    for e in comparison.entries:
        by_model.setdefault(e.model, []).append(e)
    runs = list(by_model.values())
    rows = [
        ["seeds", ""] + [", ".join(str(r.seed) for r in model) for model in runs],
        ["steps", ""] + [fmt([r.steps for r in model], 0) for model in runs],
        ["images seen", ""] + [fmt([r.seen for r in model], 0) for model in runs],
        ["train wall s", ""] + [fmt([r.wall_s for r in model], 0) for model in runs],
        ["train wall outside steps", ""] + [fmt([100 * r.outside_step for r in model], 0) + " %" for model in runs],
        ["eval wall s", ""] + [fmt([r.eval_s for r in model], 0) for model in runs],
        ["parameters", ""] + [f"{model[0].parameters:,}" for model in runs],
    ]
    for key in keys:
        row = [row_label(first[key]), fmt(cells(comparison.floor, [key])) + interval(comparison.floor, key)]
        for model in runs:
            cell = fmt([v for r in model for v in cells(r.metrics, [key])])
            cell += interval([m for r in model for m in r.metrics], key) if len(model) == 1 else ""
            collapsed = [str(r.seed) for r in model for m in r.metrics if m.key == key and m.extra.get("collapsed")]
            if collapsed:
                cell += f" (collapsed, seed {', '.join(collapsed)})" if len(model) > 1 else " (collapsed)"
            row.append(cell)
        rows.append(row)
    return Table(["", REAL, *by_model], rows, [describe(first[k]) for k in keys])


def interval(metrics: list[Metric], key: str) -> str:
    """' (95% CI a to b)' for a score from few images (see deepgen.eval.evaluate.few_images), else ''."""
    found = [m.extra["interval"] for m in metrics if m.key == key and "interval" in m.extra]
    return f" (95% CI {found[0][0]:.3g} to {found[0][1]:.3g})" if found else ""


def row_label(m: Metric) -> str:
    """'fid[classifier:mnist10k] ↓ (evaluator test accuracy 0.981)': a score beside its evaluator's accuracy."""
    label = m.key + ARROWS[m.better]
    return f"{label} ({accuracy_label(m.extra[ACCURACY])})" if ACCURACY in m.extra else label


def fmt(values: list[float | None], digits: int = 4) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    mean = statistics.fmean(values)
    text = f"{mean:.{digits}g}" if digits and abs(mean) < 10**digits else f"{mean:,.0f}"
    if len(set(values)) > 1:
        spread = statistics.stdev(values)
        text += f" ± {spread:.2g}" if digits else f" ± {spread:.0f}"
    return text


def describe(m: Metric) -> str:
    counts = ", ".join(
        f"{label} {value}"
        for label, value in (("generated", m.n_generated), ("real", m.n_real), ("seed", m.seed))
        if value is not None
    )
    features = f" on {m.features}" if m.features else ""
    better = f" ({m.better} is better)" if m.better else ""
    few = f"; {m.extra['few']}: each cell gives its bootstrap 95% CI" if "few" in m.extra else ""
    return f"{m.key}{better}{features}: {m.note}; {counts}{few}"
