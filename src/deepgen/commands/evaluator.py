"""deepgen evaluator: train (once) and list the classifiers behind the classifier:DATA metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass

from deepgen.arguments import Parser, add_data_options, add_options, data_options, options
from deepgen.config import opt
from deepgen.eval.settings import Recipe

USAGE = [
    ("evaluator train --data NAME|folder:PATH [--image-size N]", "train the classifier:DATA feature network (cached)"),
    ("evaluator list", "list cached evaluators and their test accuracy"),
]


@dataclass
class TrainArgs:
    steps: int | None = opt(
        None,
        "most training steps; it stops early when validation accuracy plateaus (default: "
        f"{Recipe.epochs:g} epochs, {Recipe.MIN_STEPS} to {Recipe.MAX_STEPS} steps)",
        ge=1,
    )
    device: str = opt("auto", "auto, cpu, cuda, mps")
    retrain: bool = opt(False, "train again even if cached")


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="deepgen evaluator",
        description="Classifiers trained on a dataset's real training split; their penultimate layer gives the "
        "classifier:DATA features of deepgen eval. Cached in $DEEPGEN_CACHE/evaluators (default ~/.cache/deepgen).",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    train = sub.add_parser("train", help="train (or find) the evaluator of a dataset")
    add_data_options(train, required=True)
    add_options(train, TrainArgs, "train")
    sub.add_parser("list", help="list cached evaluators")
    parsed = parser.parse_args(argv)
    from deepgen.data import load_data
    from deepgen.device import resolve_device
    from deepgen.eval.evaluator import INFO, cache_root, describe_training, evaluator_data, get_evaluator

    if parsed.action == "list":
        infos = sorted(cache_root().glob(f"*/{INFO}"))
        for path in infos:
            info = json.loads(path.read_text())
            print(f"{info['name']:<40} {describe_training(info)}")
        print(f"{len(infos)} evaluator(s) in {cache_root()}")
        return 0
    args = options(TrainArgs, parsed, "train")
    splits = load_data(evaluator_data(data_options(parsed)))
    evaluator = get_evaluator(splits, Recipe(steps=args.steps), resolve_device(args.device), retrain=args.retrain)
    print(f"  features: {evaluator.name} ({evaluator.num_features}-d)")
    print(f"  saved in: {evaluator.info['path']}")
    return 0
