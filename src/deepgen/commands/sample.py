"""deepgen sample: generate images from a trained run."""

from __future__ import annotations

from pathlib import Path

import torch

from deepgen.arguments import Parser, number
from deepgen.errors import ConfigError, DeepgenError

USAGE = [
    ("sample RUN --n K --out DIR|FILE.png|FILE.npz", "generate images (--per-class K for conditional models)"),
    ("sample RUN --interpolate K --out DIR|FILE.png|FILE.npz", "K interpolation strips between images or noise"),
]
STRIP_STEPS = 10


def run(argv: list[str]) -> int:
    from deepgen.sampling import balanced_labels, generate, output_files, write_samples
    from deepgen.train.checkpoint import WEIGHTS, build_model, latest_checkpoint
    from deepgen.train.device import resolve_device

    parser = Parser(prog="deepgen sample", description="Generate images from a trained run.")
    parser.add_argument("run", type=Path, help="run directory (or a checkpoint directory inside it)")
    parser.add_argument("--n", type=number(int, ge=1), default=64, help="number of images (default: 64)")
    parser.add_argument(
        "--per-class", type=number(int, ge=1), metavar="K", help="K images of each class (conditional models)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="a folder (one PNG per image; a sub-folder per class when conditional), FILE.png (a grid) or FILE.npz",
    )
    parser.add_argument(
        "--interpolate",
        type=number(int, ge=1),
        metavar="K",
        help=f"write K strips of {STRIP_STEPS} images instead: linear interpolation between the codes of random "
        "test images (models with an encoder) or spherical between noise vectors (the others)",
    )
    parser.add_argument("--seed", type=number(int, ge=0), default=0, help="noise seed (default: 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, mps (default: auto)")
    args = parser.parse_args(argv)
    if args.interpolate is not None:
        if args.per_class is not None:
            raise ConfigError("--interpolate and --per-class cannot be combined; give one of them")
        return interpolate(args.run, args.interpolate, args.out, args.seed, resolve_device(args.device))
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
    output_files(args.out, n, labels, model.classes)  # refuse a bad --out before generating
    out = write_samples(generate(model, n, args.seed, labels), args.out, labels, model.classes)
    print(f"wrote {n} images from {ckpt} (step {meta['step']}) to {out}")
    return 0


def interpolate(run: Path, k: int, out: Path, seed: int, device: torch.device) -> int:
    from deepgen.data import load_data
    from deepgen.latent.codes import open_run
    from deepgen.latent.interpolate import strips, write_strips

    opened = open_run(run, device)
    model = opened.model
    images = load_data(opened.config.data).test.images if model.can_encode else None
    s = strips(model, k, STRIP_STEPS, "linear" if model.can_encode else "spherical", seed, images)
    write_strips(s.images, out)
    print(f"wrote {len(s.images)} interpolation strips between {s.source} from {opened.checkpoint} to {out}")
    return 0
