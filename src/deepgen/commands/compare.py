"""deepgen compare: train several models under one budget and seeds, evaluate them alike, write a report."""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from deepgen.arguments import Parser, add_data_options, add_options, data_options, options
from deepgen.commands.eval import add_eval_options, settings
from deepgen.config import MAX_SEED, opt
from deepgen.errors import ConfigError
from deepgen.results import CompareResults, metric_row

if TYPE_CHECKING:
    from deepgen.comparison import Comparison

USAGE = [
    ("compare MODEL... --data NAME --budget STEPS|TIME", "train each under one budget, evaluate, report.html"),
]


@dataclass
class CompareArgs:
    models: list[str] = opt(MISSING, "models to compare (deepgen models lists them)", positional=True, metavar="MODEL")
    budget: str = opt(MISSING, "per model and seed: training steps (2000) or training time (90s, 10m, 1.5h)")
    seeds: list[int] = opt([0], "training seeds", ge=0, le=MAX_SEED)
    out: Path | None = opt(None, "output folder (default: runs/compare-DATA-BUDGET, numbered)")
    device: str = opt("auto", "training device: auto, cpu, cuda, mps")
    set: list[str] = opt(
        [], "set an option of every model that has it, e.g. --set batch_size=64", metavar="KEY=VALUE", repeat=True
    )


def run(argv: list[str]) -> CompareResults:
    """Parse `argv` as `deepgen compare` does, compare, and return the result (which the command prints)."""
    parser = Parser(
        prog="deepgen compare",
        description="Train each MODEL on the same data under the same budget and seeds, evaluate all against the "
        "held-out test split, and write results.csv, results.md and a self-contained report.html.",
    )
    add_options(parser, CompareArgs, "compare")
    add_data_options(parser, required=True)
    add_eval_options(parser)
    parsed = parser.parse_args(argv)
    args = options(CompareArgs, parsed, "compare")
    from deepgen.comparison import apply_budget, compare, parse_budget
    from deepgen.config import RunConfig
    from deepgen.run import data_slug, new_run_name

    budget = parse_budget(args.budget)
    data = data_options(parsed)
    out = args.out or new_run_name("compare", data_slug(data.data), args.budget.strip())
    if len(set(args.models)) != len(args.models):
        raise ConfigError(f"each MODEL once, please; got {' '.join(args.models)}")

    configs, used, skipped = [], set(), {}
    for model in args.models:
        for seed in args.seeds:
            cfg = RunConfig.default(model)
            cfg.data = dataclasses.replace(data)
            apply_budget(cfg, budget)
            cfg.train.seed, cfg.train.device, cfg.train.out = (
                seed,
                args.device,
                str(out / "runs" / f"{model}-seed{seed}"),
            )
            applied = cfg.apply_overrides(args.set, skip_unknown=True)
            used.update(applied)
            for pair in args.set:
                if pair not in applied and model not in skipped.setdefault(pair, []):
                    skipped[pair].append(model)
            configs.append(cfg)
    unused = [p for p in args.set if p not in used]
    if unused:
        raise ConfigError(f"no model among {', '.join(args.models)} has the option of --set {', '.join(unused)}")
    for pair, names in skipped.items():
        if names:
            print(f"--set {pair}: no such option in {', '.join(names)} (trained without it)")

    result = results(compare(configs, out, settings(parsed), budget))
    lines = [f"compared {len(configs)} run(s) in {out}"]
    lines += [f"  {name + ':':<10}{path}" for name, path in result.outputs.items()] + [f"  {'runs:':<10}{out / 'runs'}"]
    result.text = "\n".join([result.outputs["markdown"].read_text(), *lines])
    return result


def results(comparison: Comparison) -> CompareResults:
    """The comparison as rows: the real-data floor, then each model and seed."""
    from deepgen.comparison import REAL

    columns = ("seed", "steps", "images_seen", "wall_s", "parameters", "run")
    rows = [metric_row({"model": REAL} | dict.fromkeys(columns), comparison.floor)]
    for e in comparison.entries:
        values = (e.seed, e.steps, e.seen, round(e.wall_s, 1), e.parameters, e.run)
        rows.append(metric_row({"model": e.model} | dict(zip(columns, values)), e.metrics))
    return CompareResults(rows, rows[-1].features, dict(comparison.outputs))
