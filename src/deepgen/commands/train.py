"""deepgen train: train a model, continue a run, or repeat one from its config."""

from __future__ import annotations

import argparse
import dataclasses
import typing

from deepgen.arguments import Parser
from deepgen.config import SECTIONS, RunConfig, field_help, hints
from deepgen.errors import ConfigError

USAGE = [
    ("train MODEL --data NAME|folder:PATH --steps N --out RUN", "train a model (deepgen train MODEL --help)"),
    ("train --resume RUN --steps N", "continue a run up to N steps"),
    ("train --config RUN/config.yaml", "repeat a run from its config"),
]

def run(argv: list[str]) -> int:
    from deepgen.registry import models
    from deepgen.train.resume import check_resumable, resume_config
    from deepgen.train.trainer import train

    model = argv[0] if argv and not argv[0].startswith("-") else None
    pre = Parser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("--resume")
    known, _ = pre.parse_known_args(argv)
    if known.resume:
        cfg = resume_config(known.resume)
    elif known.config:
        cfg = RunConfig.load(known.config)
    elif model:
        cfg = RunConfig.default(model)
    else:
        cfg = None
    if model and cfg and model != cfg.model:
        raise ConfigError(f"model {model!r} does not match {cfg.model!r} in {known.resume or known.config}")

    parser = Parser(
        prog=f"deepgen train {cfg.model if cfg else 'MODEL'}",
        description="Train a model. Every option can also be given as --set KEY=VALUE.",
        epilog=None if cfg else "models: " + ", ".join(models()) + "  (deepgen train MODEL --help lists its options)",
    )
    parser.add_argument("model", nargs="?", help="model to train (deepgen models lists them)")
    parser.add_argument("--config", help="repeat a run from its config.yaml (options given here override it)")
    parser.add_argument(
        "--resume", metavar="RUN", help="continue RUN from its newest checkpoint (up to --steps in total)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="set any option, e.g. --set latent_dim=2"
    )
    if cfg:
        add_config_flags(parser, cfg)
    args = parser.parse_args(argv)
    if cfg is None:
        parser.error("name a MODEL, or give --config FILE or --resume RUN")
    given = {k: v for k, v in vars(args).items() if "." in k}
    if known.resume:
        check_resumable(cfg, [*given, *(p.partition("=")[0] for p in args.set)], known.resume)
    for key, value in given.items():
        cfg.set(key, value)
    cfg.apply_overrides(args.set)
    if known.resume:
        cfg.train.out = known.resume
    result = train(cfg, resume=bool(known.resume))
    print(f"run directory: {result.run}")
    if result.interrupted:
        print(f"interrupted at step {result.step}; checkpoint {result.checkpoint}")
        print(f"continue with: deepgen train --resume {result.run} --steps {cfg.train.steps}")
        return 130
    for name, path in result.outputs.items():
        print(f"  {name + ':':<17}{path}")
    print(f"  {'checkpoint:':<17}{result.checkpoint}")
    print(f"  {'config:':<17}{result.run / 'config.yaml'}")
    print(
        f"  {'losses:':<17}{result.run / 'metrics.jsonl'}"
        + (f"  (tensorboard --logdir {result.run / 'tb'})" if cfg.train.tensorboard else "")
    )
    if result.metrics:
        print("  test split: " + ", ".join(f"{k}={v:.5g}" for k, v in result.metrics.items()))
    return 0


METAVARS = {int: "N", float: "X", str: "TEXT"}


def add_config_flags(parser: argparse.ArgumentParser, cfg: RunConfig) -> None:
    """One flag per config field (`latent_dim` -> `--latent-dim`), grouped by section."""
    titles = {"data": "data", "train": "training", "model_config": f"model ({cfg.model})"}
    for section in SECTIONS:
        add_field_flags(parser.add_argument_group(titles[section]), getattr(cfg, section), section)


def add_field_flags(
    group: argparse._ActionsContainer, obj: object, section: str, names: tuple[str, ...] | None = None
) -> None:
    """One flag per field of config dataclass `obj` (or per field in `names`), stored as 'section.field' strings."""
    types_ = hints(type(obj))
    for f in dataclasses.fields(obj):
        if names is not None and f.name not in names:
            continue
        flag, dest, tp = "--" + f.name.replace("_", "-"), f"{section}.{f.name}", types_[f.name]
        kwargs: dict = {"dest": dest, "default": argparse.SUPPRESS, "help": field_help(f)}
        inner = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(tp) is typing.Literal:
            kwargs["choices"] = list(typing.get_args(tp))
        else:
            kwargs["metavar"] = METAVARS.get(inner[0], "VALUE")
            kwargs["nargs"] = "+" if typing.get_origin(tp) is list else None
        group.add_argument(flag, **kwargs)
