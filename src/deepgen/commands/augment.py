"""deepgen augment: does adding generated images make a classifier better? Real vs real + synthetic, over seeds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from deepgen.arguments import Parser, add_data_options, add_options, data_options, options
from deepgen.augment.experiment import AugmentConfig, run_experiment
from deepgen.augment.fit import FitConfig
from deepgen.config import opt

USAGE = [
    ("augment --data D --train-generator MODEL --ratios 0 1 2 --seeds 5", "real vs real + synthetic, with tests"),
]
DATA = ("data", "data_root", "image_size", "fit", "channels", "limit_per_class", "test_fraction")
SOURCE = ("generator", "generators", "train_generator", "per_class_generators", "generator_steps", "vary")
EXPERIMENT = tuple(f.name for f in dataclasses.fields(AugmentConfig) if f.name not in (*SOURCE, "val_fraction"))


@dataclass
class FitOptions:
    """The classifier-training options of deepgen augment (the rest of FitConfig keeps its defaults)."""

    max_steps: int = opt(FitConfig.max_steps, "classifier steps (early stopping on val)", ge=1)


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="deepgen augment",
        description="Train classifiers on real data and on real + generated data (added to the training split "
        "only), over several seeds, and test them on real held-out data.",
    )
    add_options(add_data_options(parser, required=True, names=DATA), AugmentConfig, "augment", ("val_fraction",))
    add_options(parser.add_argument_group("synthetic images (one of)"), AugmentConfig, "augment", SOURCE)
    experiment = parser.add_argument_group("experiment")
    add_options(experiment, AugmentConfig, "augment", EXPERIMENT)
    add_options(experiment, FitOptions, "fit")
    args = parser.parse_args(argv)
    fit = FitConfig(max_steps=options(FitOptions, args, "fit").max_steps)
    cfg = options(AugmentConfig, args, "augment", data=data_options(args), fit=fit)
    paths = run_experiment(cfg)
    print((cfg.out / "summary.md").read_text())
    for name, path in paths.items():
        print(f"  {name + ':':<20}{path}")
    return 0
