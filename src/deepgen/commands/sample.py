"""deepgen sample: generate images from a trained run."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from deepgen.errors import ConfigError, DeepgenError

USAGE = [("sample RUN --n K --out DIR|FILE.png|FILE.npz", "generate images (--per-class K for conditional models)")]


def run(argv: list[str]) -> int:
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
