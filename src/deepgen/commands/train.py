"""deepgen train: train a model, continue a run, or repeat one from its config."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from deepgen.arguments import Parser, add_options, given, options
from deepgen.config import SECTIONS, RunConfig, given_once, key_value, opt
from deepgen.errors import ConfigError

USAGE = [
    ("train MODEL --data NAME|folder:PATH --steps N --out RUN", "train a model (deepgen train MODEL --help)"),
    ("train --resume RUN --steps N", "continue a run up to N steps"),
    ("train --config RUN/config.yaml", "repeat a run from its config"),
]


@dataclass
class TrainArgs:
    model: str | None = opt(None, "model to train (deepgen models lists them)", positional=True)
    config: str | None = opt(None, "repeat a run from its config.yaml (options given here override it)", metavar="FILE")
    resume: str | None = opt(None, "continue RUN from its newest checkpoint (up to --steps in total)", metavar="RUN")
    set: list[str] = opt([], "set any option, e.g. --set latent_dim=2", metavar="KEY=VALUE", repeat=True)


def run(argv: list[str]) -> int:
    from deepgen.registry import catalog

    pre = Parser(add_help=False)
    add_options(pre, TrainArgs, "run", names=("config", "resume"))
    known = options(TrainArgs, pre.parse_known_args(argv)[0], "run")
    model = argv[0] if argv and not argv[0].startswith("-") else None
    if known.resume:
        from deepgen.training.resume import resume_config

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
        prog=f"deepgen train {cfg.model}" if cfg else "deepgen train",
        description="Train a model. Every option can also be given as --set KEY=VALUE.",
        epilog=None if cfg else "models: " + ", ".join(catalog()) + "  (deepgen train MODEL --help lists its options)",
    )
    # with the model named, it is part of `prog`; the usage line does not offer it again as [MODEL]
    add_options(parser, TrainArgs, "run", names=("config", "resume", "set") if model else None)
    if cfg:
        add_config_flags(parser, cfg)
    args = parser.parse_args(argv[1:] if model else argv)
    if cfg is None:
        parser.error("name a MODEL, or give --config FILE or --resume RUN")
    overrides = options(TrainArgs, args, "run").set
    flags = {f"{section}.{name}": value for section in SECTIONS for name, value in given(args, section).items()}
    given_once(flags, overrides)
    if known.resume:
        from deepgen.training.resume import check_resumable

        check_resumable(cfg, [*flags, *(key_value(p, "--set")[0] for p in overrides)], known.resume)
    for key, value in flags.items():
        cfg.set(key, value)
    cfg.apply_overrides(overrides)
    cfg.check_effect([*flags, *(key_value(p, "--set")[0] for p in overrides)])
    if known.resume:
        cfg.train.out = known.resume
    from deepgen.training.trainer import train

    result = train(cfg, resume=bool(known.resume))
    if result.rank:  # under torchrun rank 0 reports for every process
        return 130 if result.interrupted else 0
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


def add_config_flags(parser: argparse.ArgumentParser, cfg: RunConfig) -> None:
    """One flag per config field (`latent_dim` -> `--latent-dim`), grouped by section."""
    titles = {"data": "data", "train": "training", "model_config": f"model ({cfg.model})"}
    for section in SECTIONS:
        add_options(parser.add_argument_group(titles[section]), type(getattr(cfg, section)), section)
