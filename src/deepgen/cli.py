"""The `deepgen` command: parses arguments and calls library functions."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
import warnings
from pathlib import Path

import torch

from deepgen.config import SECTIONS, RunConfig, field_help, hints
from deepgen.errors import ConfigError, DeepgenError

# Options a resumed run may change: none of them alters the computation.
RESUMABLE = {
    "steps",
    "epochs",
    "device",
    "log_every",
    "sample_every",
    "checkpoint_every",
    "keep_checkpoints",
    "tensorboard",
    "collapse_ratio",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"
    commands = {"train": cmd_train, "sample": cmd_sample, "models": cmd_models, "datasets": cmd_datasets}
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print(
            "usage: deepgen {train,sample,models,datasets} ...\n\n"
            "  train MODEL --data NAME|folder:PATH --steps N --out RUN   train a model (deepgen train MODEL --help)\n"
            "  train --resume RUN --steps N                              continue a run up to N steps\n"
            "  train --config RUN/config.yaml                            repeat a run from its config\n"
            "  sample RUN --n K --out DIR|FILE.png|FILE.npz              generate images from a trained run\n"
            "  models                                                    list the models\n"
            "  datasets                                                  list the datasets",
            file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout,
        )
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        return commands[argv[0]](argv[1:])
    except ConfigError as e:
        print(f"deepgen: error: {e}", file=sys.stderr)
        return 2
    except DeepgenError as e:
        print(f"deepgen: error: {e}", file=sys.stderr)
        return 1


def cmd_train(argv: list[str]) -> int:
    from deepgen.train.trainer import train

    model = argv[0] if argv and not argv[0].startswith("-") else None
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("--resume")
    known, _ = pre.parse_known_args(argv)
    if known.resume:
        cfg = RunConfig.load(Path(known.resume) / "config.yaml")
    elif known.config:
        cfg = RunConfig.load(known.config)
    elif model:
        cfg = RunConfig.default(model)
    else:
        cfg = None
    if model and cfg and model != cfg.model:
        raise ConfigError(f"model {model!r} does not match {cfg.model!r} in {known.resume or known.config}")

    parser = argparse.ArgumentParser(
        prog=f"deepgen train {cfg.model if cfg else 'MODEL'}",
        description="Train a model. Every option can also be given as --set KEY=VALUE.",
        epilog=None
        if cfg
        else "models: " + ", ".join(models_list()) + "  (deepgen train MODEL --help lists its options)",
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
        changed = {k.split(".")[1] for k in given} | {p.partition("=")[0].split(".")[-1] for p in args.set}
        if changed - RESUMABLE:
            allowed = ", ".join("--" + n.replace("_", "-") for n in sorted(RESUMABLE))
            raise ConfigError(
                f"--resume continues {known.resume} exactly as configured; it can change only {allowed}, "
                f"not {', '.join(sorted(changed - RESUMABLE))}"
            )
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
        obj = getattr(cfg, section)
        group = parser.add_argument_group(titles[section])
        types_ = hints(type(obj))
        for f in dataclasses.fields(obj):
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


def cmd_sample(argv: list[str]) -> int:
    from deepgen.sampling import balanced_labels, generate, write_samples
    from deepgen.train.checkpoint import WEIGHTS, build_model, latest_checkpoint
    from deepgen.train.device import resolve_device

    parser = argparse.ArgumentParser(prog="deepgen sample", description="Generate images from a trained run.")
    parser.add_argument("run", type=Path, help="run directory (or a checkpoint directory inside it)")
    parser.add_argument("--n", type=int, default=64, help="number of images (default: 64)")
    parser.add_argument("--per-class", type=int, metavar="K", help="K images of each class (conditional models)")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="a folder (one PNG per image; a sub-folder per class when conditional), FILE.png (a grid) or FILE.npz",
    )
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, mps (default: auto)")
    args = parser.parse_args(argv)
    ckpt = args.run if (args.run / WEIGHTS).is_file() else latest_checkpoint(args.run)
    model, meta = build_model(ckpt / WEIGHTS, resolve_device(args.device))
    if not model.can_sample:
        raise DeepgenError(f"{args.run} is a {model.name}, which has no prior to sample from; train a vae or a GAN")
    if args.per_class is not None and not model.conditional:
        raise ConfigError(f"--per-class needs a conditional model; {args.run} was trained without --conditional")
    k = len(model.classes)
    labels = None
    if model.conditional:
        labels = balanced_labels(k, args.per_class) if args.per_class is not None else torch.arange(args.n) % k
    n = len(labels) if labels is not None else args.n
    if n < 1:
        raise ConfigError(f"--n and --per-class must be at least 1, got {n}")
    out = write_samples(generate(model, n, args.seed, labels), args.out, labels, model.classes)
    print(f"wrote {n} images from {ckpt} (step {meta['step']}) to {out}")
    return 0


def cmd_models(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="deepgen models", description="List the models.").parse_args(argv)
    for name, description in models_list().items():
        print(f"{name:<10} {description}")
    return 0


def cmd_datasets(argv: list[str]) -> int:
    from deepgen.data.sources import SOURCES

    argparse.ArgumentParser(prog="deepgen datasets", description="List the datasets (--data NAME).").parse_args(argv)
    for name, source in SOURCES.items():
        print(f"{name:<14} {source.description}" + ("  [ships with deepgen]" if source.offline else ""))
    return 0


def models_list() -> dict[str, str]:
    from deepgen.registry import models

    return {name: cls.description for name, cls in models().items()}
