"""deepgen evaluator: train (once) and list the classifiers behind the classifier:DATA metrics."""

from __future__ import annotations

import argparse
import dataclasses
import json

from deepgen.arguments import Parser, number
from deepgen.config import DataConfig, build, field_help

USAGE = [
    ("evaluator train --data NAME|folder:PATH [--image-size N]", "train the classifier:DATA feature network (cached)"),
    ("evaluator list", "list cached evaluators and their test accuracy"),
]

DATA_FLAGS = ("data", "data_root", "image_size", "fit", "channels", "test_fraction", "split_seed")


def add_data_flags(
    parser: argparse.ArgumentParser, required: bool, names: tuple[str, ...] = DATA_FLAGS
) -> argparse._ArgumentGroup:
    """A "data" group with --data and the DataConfig options in `names` (as in deepgen train; by default those
    that change what an evaluator sees); returns the group for further flags."""
    group = parser.add_argument_group("data")
    for f in dataclasses.fields(DataConfig):
        if f.name in names:
            group.add_argument(
                "--" + f.name.replace("_", "-"),
                dest=f"data.{f.name}",
                metavar=f.name.upper(),
                default=argparse.SUPPRESS,
                required=required and f.name == "data",
                help=field_help(f),
            )
    return group


def data_config(args: argparse.Namespace) -> DataConfig:
    """The data options given, with the image size of a folder resolved (and printed) once."""
    from deepgen.data import resolve_size

    values = {k[5:]: v for k, v in vars(args).items() if k.startswith("data.")}
    return resolve_size(build(DataConfig, values, "data options"))


def run(argv: list[str]) -> int:
    from deepgen.data import load_data
    from deepgen.device import resolve_device
    from deepgen.eval.evaluator import INFO, Recipe, cache_root, describe_training, evaluator_data, get_evaluator

    parser = Parser(
        prog="deepgen evaluator",
        description="Classifiers trained on a dataset's real training split; their penultimate layer gives the "
        "classifier:DATA features of deepgen eval. Cached in $DEEPGEN_CACHE/evaluators (default ~/.cache/deepgen).",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    train = sub.add_parser("train", help="train (or find) the evaluator of a dataset")
    add_data_flags(train, required=True)
    train.add_argument(
        "--steps",
        type=number(int, ge=1),
        help="most training steps; it stops early when validation accuracy plateaus (default: "
        f"{Recipe.epochs:g} epochs, {Recipe.MIN_STEPS} to {Recipe.MAX_STEPS} steps)",
    )
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, mps (default: auto)")
    train.add_argument("--retrain", action="store_true", help="train again even if cached")
    sub.add_parser("list", help="list cached evaluators")
    args = parser.parse_args(argv)

    if args.action == "list":
        infos = sorted(cache_root().glob(f"*/{INFO}"))
        for path in infos:
            info = json.loads(path.read_text())
            print(f"{info['name']:<40} {describe_training(info)}")
        print(f"{len(infos)} evaluator(s) in {cache_root()}")
        return 0
    splits = load_data(evaluator_data(data_config(args)))
    evaluator = get_evaluator(splits, Recipe(steps=args.steps), resolve_device(args.device), retrain=args.retrain)
    print(f"  features: {evaluator.name} ({evaluator.num_features}-d)")
    print(f"  saved in: {evaluator.info['path']}")
    return 0
