"""deepgen augment: does adding generated images make a classifier better? Real vs real + synthetic, over seeds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from deepgen.arguments import Parser, add_data_options, add_options, data_options, options
from deepgen.augmentation.config import AugmentConfig, RecipeConfig, SlurmConfig
from deepgen.classify.config import AdversarialConfig, FitConfig
from deepgen.config import opt
from deepgen.results import AugmentResults, read_csv_rows

USAGE = [
    ("augment --data D --train-generator MODEL --ratios 0 1 2 --seeds 5", "real vs real + synthetic, with tests"),
]
DATA = ("data", "data_root", "image_size", "fit", "channels", "test_fraction", "dedupe")
SOURCE = (
    "generator", "generators", "train_generator", "per_class_generators", "generator_steps", "generator_set",
    "generator_config", "vary", "unlabeled",
)  # fmt: skip
IN_DATA = ("limits", "val_fraction")
EXPERIMENT = tuple(f.name for f in dataclasses.fields(AugmentConfig) if f.name not in (*SOURCE, *IN_DATA))


@dataclass
class FitOptions:
    """The classifier-training options of deepgen augment (the rest of FitConfig keeps its defaults)."""

    max_steps: int = opt(FitConfig.max_steps, "classifier steps (early stopping on val)", ge=1)
    balance: bool = opt(False, "weight each image's loss by the inverse frequency of its class")
    mix: Literal["none", "mixup", "cutmix"] = opt("none", "mix pairs of training images and their labels")
    mix_alpha: float = opt(1.0, "mixup/CutMix: the share mixed in ~ Beta(alpha, alpha)", gt=0)
    adv_eps: float = opt(0.1, "adversarial training's L-inf budget in [0, 1] pixel units", ge=0, le=1)
    adv_steps: int = opt(7, "adversarial training's attack steps (pgd, trades)", ge=1)
    adv_step_size: float | None = opt(None, "its step size (default: 1.25 eps for fgsm, 2.5 eps / steps)", gt=0)
    trades_beta: float = opt(6.0, "TRADES: the weight of the robustness (KL) term", ge=0)
    patience: int = opt(FitConfig.patience, "validation checks without a better score before stopping", ge=1)
    select: Literal["clean", "robust"] = opt(
        "clean",
        "keep the classifier's weights of the best validation accuracy, or (adversarial training) of the best "
        "validation robust accuracy under PGD at --adv-eps (Rice et al. 2020); robust records the best and last "
        "validation robust accuracy, their gap and the curve",
    )
    select_steps: int = opt(FitConfig.select_steps, "--select robust: the validation PGD's steps", ge=1)
    select_images: int = opt(
        FitConfig.select_images, "--select robust: validation images attacked (at most)", flag="--select-n", ge=1
    )


def run(argv: list[str]) -> AugmentResults:
    """Parse `argv` as `deepgen augment` does, run the experiment, and return the result (which the command prints)."""
    cfg = config(argv)
    from deepgen.augmentation.experiment import run_experiment

    paths = run_experiment(cfg)
    if cfg.dry_run:
        return AugmentResults([], "", {}, "--dry-run: nothing was run")
    # results.csv holds every seed of this --out, those of an earlier session it continued included
    rows = read_csv_rows(cfg.out / "results.csv")
    text = "\n".join([(cfg.out / "summary.md").read_text(), *[f"  {k + ':':<20}{p}" for k, p in paths.items()]])
    return AugmentResults(rows, "", dict(paths), text)


def config(argv: list[str]) -> AugmentConfig:
    """The experiment `deepgen augment ARGV` runs."""
    parser = Parser(
        prog="deepgen augment",
        description="Train classifiers on real data and on real + generated data (added to the training split "
        "only), over several seeds, and test them on real held-out data.",
    )
    add_options(add_data_options(parser, required=True, names=DATA), AugmentConfig, "augment", IN_DATA)
    add_options(
        parser.add_argument_group("synthetic images: generators (several: one experiment)"),
        AugmentConfig,
        "augment",
        SOURCE,
    )
    experiment = parser.add_argument_group("experiment")
    add_options(experiment, AugmentConfig, "augment", EXPERIMENT)
    add_options(experiment, FitOptions, "fit")
    add_options(parser.add_argument_group("recipes: how generated images are used (settings fixed, not tuned)"),
                RecipeConfig, "recipe")  # fmt: skip
    add_options(parser.add_argument_group("SLURM (--launcher slurm): each task of a job array"), SlurmConfig, "slurm")
    args = parser.parse_args(argv)
    given = dataclasses.asdict(options(FitOptions, args, "fit"))
    attack = AdversarialConfig(*(given.pop(k) for k in ("adv_eps", "adv_step_size", "adv_steps", "trades_beta")))
    fit = FitConfig(**given, attack=attack)
    recipe = options(RecipeConfig, args, "recipe")
    slurm = options(SlurmConfig, args, "slurm")
    cfg = options(AugmentConfig, args, "augment", data=data_options(args), fit=fit, recipe=recipe, slurm=slurm)
    # one --limit-per-class N is the data's limit; several make the scarce-data curve, an experiment per N
    cfg.data = dataclasses.replace(cfg.data, limit_per_class=(cfg.limits or [None])[0])
    cfg.limits = cfg.limits if len(cfg.limits) > 1 else []
    return cfg
