"""deepgen eval: score trained runs (FID, KID, precision/recall, density/coverage, ...) into RUN/metrics.json."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from deepgen.arguments import Parser, add_data_options, add_options, data_options, given, options
from deepgen.config import opt
from deepgen.errors import ConfigError
from deepgen.eval.settings import Recipe, Settings

if TYPE_CHECKING:
    from deepgen.results import EvalResults

USAGE = [
    ("eval RUN... [--features classifier|inception] [--n N]", "evaluate runs; merged into RUN/metrics.json"),
    ("eval --data NAME|folder:PATH", "the real-data floor: the training split scored against the test split"),
]


@dataclass
class EvalArgs:
    runs: list[Path] = opt([], "run directories", positional=True, metavar="RUN")
    out: Path | None = opt(None, "with --data: also write the floor's metrics to this JSON file")


@dataclass
class EvaluatorOptions:
    evaluator_steps: int | None = opt(
        None,
        "most training steps of the classifier evaluator, which stops early when its validation accuracy "
        f"plateaus (part of its cache name) (default: {Recipe.epochs:g} epochs, {Recipe.MIN_STEPS} to "
        f"{Recipe.MAX_STEPS} steps)",
        ge=1,
    )


def add_eval_options(parser: argparse.ArgumentParser) -> None:
    """The evaluation options shared by deepgen eval and deepgen compare."""
    group = parser.add_argument_group("evaluation")
    add_options(group, Settings, "eval")
    add_options(group, EvaluatorOptions, "evaluator")


def settings(args: argparse.Namespace) -> Settings:
    """The evaluation options given (see add_eval_options)."""
    steps = options(EvaluatorOptions, args, "evaluator").evaluator_steps
    return options(Settings, args, "eval", recipe=Recipe(steps=steps))


def run(argv: list[str]) -> EvalResults:
    """Parse `argv` as `deepgen eval` does, evaluate, and return the result (which the command prints)."""
    parser = Parser(
        prog="deepgen eval",
        description="Evaluate the newest checkpoint of each RUN against its data's held-out test split; results "
        "are printed and merged into RUN/metrics.json under 'eval'. With --data and no RUN: score the real "
        "training split instead, the floor that a perfect generator would reach.",
    )
    add_options(parser, EvalArgs, "run")
    add_data_options(parser, required=False)
    add_eval_options(parser)
    parsed = parser.parse_args(argv)
    args = options(EvalArgs, parsed, "run")
    given_data = bool(given(parsed, "data"))
    if args.runs and given_data:
        raise ConfigError("--data is for the real-data floor; a RUN is evaluated on the data it was trained on")
    if not args.runs and not given_data:
        parser.error("name one or more RUN directories, or --data for the real-data floor")
    s = settings(parsed)
    from deepgen.eval.evaluate import Judge, evaluate_run, format_table, left_out, write_metrics
    from deepgen.results import EvalResults, metric_row
    from deepgen.run import open_run

    if not args.runs:
        judge = Judge(data_options(parsed), s)
        metrics = judge.real_metrics()
        lines = [
            f"real {judge.splits.name}: {judge.n} training images against the {len(judge.real)} test images"
            f"{left_out(judge.splits)}"
        ]
        lines.append(format_table(metrics))
        outputs = {}
        if args.out:
            write_metrics(args.out, {**judge.about(), "generated": "real training split"}, metrics)
            lines.append(f"wrote {args.out}")
            outputs = {"metrics": args.out}
        else:
            lines.append("(printed only; add --out FILE.json to save)")
        row = metric_row({"run": None, "model": "real data", "step": None}, metrics)
        return EvalResults([row], row.features, outputs, "\n".join(lines), {Path("real data"): metrics})
    judges: dict[str, Judge] = {}
    result = EvalResults([])
    lines = []
    for run_dir in args.runs:
        data = open_run(run_dir).config.data
        key = json.dumps(data.__dict__, sort_keys=True)
        if key not in judges:
            judges[key] = Judge(data, s)
        done = evaluate_run(run_dir, judges[key])
        row = metric_row({"run": run_dir, "model": done.about["model"], "step": done.step}, done.metrics)
        result.rows.append(row)
        result.metrics[run_dir] = done.metrics
        result.outputs[str(run_dir)] = done.path
        result.features = result.features or row.features
        lines.append(f"{run_dir}: {done.about['model']} at step {done.step} ({done.checkpoint})")
        if judges[key].splits.left_out:
            lines.append(f"against the {done.about['real']}")
        lines += [format_table(done.metrics), f"wrote {done.path}"]
        if (run_dir / "memorisation.png").is_file():
            lines.append(f"wrote {run_dir / 'memorisation.png'} (samples closest to a training image, above it)")
    result.text = "\n".join(lines)
    return result
