"""deepgen augment: does adding generated images make a classifier better? Real vs real + synthetic, over seeds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from deepgen.arguments import Parser, number
from deepgen.augment.experiment import AugmentConfig, run_experiment
from deepgen.augment.recipes import RECIPES, RecipeConfig
from deepgen.classify.fit import FitConfig
from deepgen.commands.evaluator import add_data_flags, data_config
from deepgen.errors import ConfigError
from deepgen.registry import classifiers

USAGE = [
    ("augment --data D --train-generator MODEL --ratios 0 1 2 --seeds 5", "real vs real + synthetic, with tests"),
]


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="deepgen augment",
        description="Train classifiers on real data and on real + generated data (added to the training split "
        "only), over several seeds, and test them on real held-out data.",
    )
    data_flags = ("data", "data_root", "image_size", "fit", "channels", "test_fraction")
    data = add_data_flags(parser, required=True, names=data_flags)
    data.add_argument(
        "--limit-per-class",
        type=number(int, ge=1),
        nargs="+",
        metavar="N",
        help="at most N training images per class; several N: one experiment each, and the scarce-data curve",
    )
    data.add_argument(
        "--unlabeled",
        type=number(int, ge=0),
        default=0,
        metavar="N",
        help="with --train-generator: the generator also learns from N other images of the training split, "
        "labelled by the seed's real-only classifier (never a test image)",
    )
    data.add_argument(
        "--val-fraction",
        type=number(float, gt=0, lt=1),
        default=0.2,
        help="share of the training images kept to stop early",
    )
    source = parser.add_argument_group("synthetic images (one of)")
    source.add_argument("--generator", type=Path, metavar="RUN", help="a conditional run (trained with --conditional)")
    source.add_argument(
        "--generators", nargs="+", metavar="CLASS=RUN", default=[], help="an unconditional run per class"
    )
    source.add_argument("--train-generator", metavar="MODEL", help="train MODEL on each seed's training split")
    source.add_argument("--per-class-generators", action="store_true", help="with --train-generator: one per class")
    source.add_argument("--generator-steps", type=number(int, ge=1), default=2000)
    source.add_argument(
        "--vary",
        type=number(float, ge=0, le=1),
        metavar="S",
        help="with --generator or --train-generator: use variations of each seed's own training images at "
        "strength S in [0, 1] (SDEdit for diffusion; encode-perturb-decode for autoencoders) instead of samples",
    )
    exp = parser.add_argument_group("experiment")
    exp.add_argument(
        "--ratios", type=number(float, ge=0), nargs="+", default=[0, 0.5, 1, 2], help="synthetic images per real one"
    )
    exp.add_argument("--seeds", type=number(int, ge=1), default=3)
    exp.add_argument(
        "--classifiers", nargs="+", default=["small-cnn"], help=" ".join(e.usage for e in classifiers().values())
    )
    exp.add_argument(
        "--pretrained",
        action="store_true",
        help="torchvision:NAME classifiers start from torchvision's ImageNet weights (downloaded once into the "
        "torch hub cache; offline: that cache or --classifier-weights)",
    )
    exp.add_argument(
        "--classifier-weights", type=Path, help="local pretrained weights for a torchvision:/timm: classifier"
    )
    exp.add_argument(
        "--classifier-size",
        type=number(int, ge=1),
        help="resize inputs of torchvision:/timm: classifiers to this size (--pretrained: the weights' own, 224)",
    )
    exp.add_argument(
        "--balance", action="store_true", help="weight each image's loss by the inverse frequency of its class"
    )
    exp.add_argument("--no-classic", action="store_true", help="skip the classic-augmentation (affine) variants")
    exp.add_argument("--classic-only", action="store_true", help="generated images only on top of classic augmentation")
    recipes = parser.add_argument_group("recipes: how generated images are used (settings fixed, not tuned)")
    recipes.add_argument(
        "--recipes",
        nargs="+",
        default=["plain"],
        choices=list(RECIPES),
        help="; ".join(f"{r.name}: {r.description}" for r in RECIPES.values()),
    )
    recipes.add_argument(
        "--tau", type=number(float, ge=0, le=1), default=RecipeConfig.tau, help="filter: least judge confidence"
    )
    recipes.add_argument(
        "--soft",
        choices=["judge", "smooth"],
        default=RecipeConfig.soft,
        help="soft: the judge's probabilities, or label smoothing",
    )
    recipes.add_argument(
        "--smoothing", type=number(float, ge=0, le=1), default=RecipeConfig.smoothing, help="soft=smooth: mass spread"
    )
    recipes.add_argument(
        "--synthetic-weight",
        type=number(float, ge=0),
        default=RecipeConfig.synthetic_weight,
        help="weight: a generated image's loss weight (a real one's is 1)",
    )
    exp.add_argument("--flip", action="store_true", help="classic augmentation also flips images horizontally")
    exp.add_argument(
        "--max-steps",
        type=number(int, ge=1),
        default=FitConfig.max_steps,
        help="classifier steps (early stopping on val)",
    )
    exp.add_argument(
        "--eps",
        type=number(float, ge=0, le=1),
        nargs="*",
        default=[0.05, 0.1],
        help="FGSM/PGD budgets in [0, 1] pixel units",
    )
    exp.add_argument("--noise", type=number(float, ge=0), nargs="*", default=[0.2], help="Gaussian noise std levels")
    exp.add_argument("--blur", type=number(float, ge=0), nargs="*", default=[1.0], help="Gaussian blur sigmas (pixels)")
    exp.add_argument(
        "--robust-n", type=number(int, ge=1), default=1000, help="test images attacked and corrupted (default: 1000)"
    )
    exp.add_argument("--device", default="auto")
    exp.add_argument(
        "--out", type=Path, required=True, help="folder for results.csv, summary.md, confusion/, provenance/"
    )
    args = parser.parse_args(argv)

    generators = {}
    for pair in args.generators:
        name, sep, path = pair.partition("=")
        if not sep:
            raise ConfigError(f"--generators expects CLASS=RUN pairs, got {pair!r}")
        generators[name] = Path(path)
    cfg = AugmentConfig(
        data=dataclasses.replace(data_config(args), limit_per_class=(args.limit_per_class or [None])[0]),
        out=args.out,
        classifiers=args.classifiers,
        ratios=args.ratios,
        seeds=args.seeds,
        generator=args.generator,
        generators=generators,
        train_generator=args.train_generator,
        per_class_generators=args.per_class_generators,
        vary=args.vary,
        generator_steps=args.generator_steps,
        classic=not args.no_classic,
        flip=args.flip,
        val_fraction=args.val_fraction,
        eps=args.eps,
        noise=args.noise,
        blur=args.blur,
        robust_images=args.robust_n,
        classifier_weights=args.classifier_weights,
        classifier_size=args.classifier_size,
        pretrained=args.pretrained,
        fit=FitConfig(max_steps=args.max_steps, balance=args.balance),
        recipe=RecipeConfig(args.recipes, args.tau, args.soft, args.smoothing, args.synthetic_weight),
        classic_only=args.classic_only,
        limits=args.limit_per_class if len(args.limit_per_class or []) > 1 else [],
        unlabeled=args.unlabeled,
        device=args.device,
    )
    paths = run_experiment(cfg)
    print((args.out / "summary.md").read_text())
    for name, path in paths.items():
        print(f"  {name + ':':<20}{path}")
    return 0
