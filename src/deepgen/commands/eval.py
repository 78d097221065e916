"""deepgen eval: score trained runs (FID, KID, precision/recall, density/coverage, ...) into RUN/metrics.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from deepgen.arguments import Parser, number
from deepgen.commands.evaluator import add_data_flags, data_config
from deepgen.errors import ConfigError

if TYPE_CHECKING:
    from deepgen.eval.evaluate import Settings

USAGE = [
    ("eval RUN... [--features classifier|inception] [--n N]", "evaluate runs; merged into RUN/metrics.json"),
    ("eval --data NAME|folder:PATH", "the real-data floor: the training split scored against the test split"),
]


def add_eval_flags(parser: argparse.ArgumentParser) -> None:
    """Options shared by deepgen eval and deepgen compare."""
    from deepgen.eval.evaluate import Settings
    from deepgen.eval.evaluator import Recipe

    group = parser.add_argument_group("evaluation")
    group.add_argument(
        "--features",
        default="classifier",
        help="feature network of FID, KID, precision/recall, density/coverage: classifier (trained on the run's "
        "data), classifier:DATASET, or inception (torch-fidelity's FID Inception-v3; its weights are downloaded "
        "once into the torch hub cache) (default: classifier)",
    )
    group.add_argument(
        "--inception-weights", metavar="PATH", help="torch-fidelity's Inception-v3 weights file (instead of the cache)"
    )
    group.add_argument(
        "--n", type=number(int, ge=1), help="generated images (default: as many as the real test split, at most 10,000)"
    )
    group.add_argument(
        "--seed", type=number(int, ge=0), default=0, help="seed of the generated images and metrics (default: 0)"
    )
    group.add_argument("--eval-device", default="auto", help="device of the evaluation (default: auto)")
    group.add_argument(
        "--feature-precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="bf16: feature network under bfloat16 autocast (check with bench/fid_speed.py) (default: fp32)",
    )
    group.add_argument(
        "--evaluator-steps",
        type=number(int, ge=1),
        help=f"most training steps of the classifier evaluator, which stops early when its validation accuracy "
        f"plateaus (part of its cache name) (default: {Recipe.epochs:g} epochs, {Recipe.MIN_STEPS} to "
        f"{Recipe.MAX_STEPS} steps)",
    )
    group.add_argument(
        "--cas-steps",
        type=number(int, ge=1),
        default=Settings.cas_steps,
        help=f"training steps of the CAS classifiers (conditional models) (default: {Settings.cas_steps})",
    )


def settings(args: argparse.Namespace) -> Settings:
    from deepgen.eval.evaluate import Settings
    from deepgen.eval.evaluator import Recipe

    return Settings(
        features=args.features,
        n=args.n,
        seed=args.seed,
        device=args.eval_device,
        precision=args.feature_precision,
        inception_weights=args.inception_weights,
        recipe=Recipe(steps=args.evaluator_steps),
        cas_steps=args.cas_steps,
    )


def run(argv: list[str]) -> int:
    from deepgen.eval.evaluate import Judge, evaluate_run, format_table, write_metrics
    from deepgen.run import open_run

    parser = Parser(
        prog="deepgen eval",
        description="Evaluate the newest checkpoint of each RUN against its data's held-out test split; results "
        "are printed and merged into RUN/metrics.json under 'eval'. With --data and no RUN: score the real "
        "training split instead, the floor that a perfect generator would reach.",
    )
    parser.add_argument("runs", nargs="*", type=Path, metavar="RUN", help="run directories")
    add_data_flags(parser, required=False)
    parser.add_argument("--out", type=Path, help="with --data: also write the floor's metrics to this JSON file")
    add_eval_flags(parser)
    args = parser.parse_args(argv)
    given_data = any(k.startswith("data.") for k in vars(args))
    if args.runs and given_data:
        raise ConfigError("--data is for the real-data floor; a RUN is evaluated on the data it was trained on")
    if not args.runs and not given_data:
        parser.error("name one or more RUN directories, or --data for the real-data floor")
    s = settings(args)

    if not args.runs:
        judge = Judge(data_config(args), s)
        metrics = judge.real_metrics()
        print(f"real {judge.splits.name}: {judge.n} training images against the {len(judge.real)} test images")
        print(format_table(metrics))
        if args.out:
            write_metrics(args.out, {**judge.about(), "generated": "real training split"}, metrics)
            print(f"wrote {args.out}")
        else:
            print("(printed only; add --out FILE.json to save)")
        return 0

    judges: dict[str, Judge] = {}
    for run_dir in args.runs:
        data = open_run(run_dir).config.data
        key = json.dumps(data.__dict__, sort_keys=True)
        if key not in judges:
            judges[key] = Judge(data, s)
        result = evaluate_run(run_dir, judges[key])
        print(f"{run_dir}: {result.about['model']} at step {result.step} ({result.checkpoint})")
        print(format_table(result.metrics))
        print(f"wrote {result.path}")
        if (run_dir / "memorisation.png").is_file():
            print(f"wrote {run_dir / 'memorisation.png'} (samples closest to a training image, above it)")
    return 0
