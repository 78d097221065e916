"""deepgen latent: pictures of a run's latent space, with the numbers in latent.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepgen.arguments import Parser, number
from deepgen.errors import ConfigError

USAGE = [("latent RUN [--compare-with RUN2] [--max-points N]", "latent scatter vs PCA/t-SNE, manifold, interpolations")]


def run(argv: list[str]) -> int:
    from deepgen.device import resolve_device
    from deepgen.latent.analyse import Options, analyse
    from deepgen.run import open_run

    d = Options()
    parser = Parser(
        prog="deepgen latent",
        description="Embedding comparison (k-NN accuracy, trustworthiness), manifold grid, interpolations, "
        "random walks and samples from Gaussians fitted to the codes, as PNGs and latent.json.",
    )
    parser.add_argument("run", type=Path, help="run directory (or a checkpoint directory inside it)")
    parser.add_argument("--compare-with", type=Path, metavar="RUN2", help="a run on the same data to show beside it")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: RUN/latent)")
    parser.add_argument(
        "--max-points",
        type=number(int, ge=20),
        metavar="N",
        default=d.max_points,
        help=f"test images embedded, chosen at random (default: {d.max_points}: t-SNE under a minute on a CPU)",
    )
    parser.add_argument(
        "--grid", type=number(int, ge=2), metavar="N", default=d.grid, help=f"lattice size N x N (default: {d.grid})"
    )
    parser.add_argument(
        "--span",
        choices=["auto", "data", "prior"],
        default=d.span,
        help="lattice range: data (quantiles of the encoded test set), prior (its mean ± 2 sd) or auto "
        "(prior when the model has one)",
    )
    parser.add_argument(
        "--quantiles",
        type=number(float, ge=0, le=1),
        nargs=2,
        default=d.quantiles,
        metavar=("LO", "HI"),
        help="for --span data (default: 0.025 0.975)",
    )
    parser.add_argument(
        "--pairs",
        type=number(int, ge=1),
        metavar="N",
        default=d.pairs,
        help=f"interpolation strips and walks (default: {d.pairs})",
    )
    parser.add_argument(
        "--steps", type=number(int, ge=2), metavar="N", default=d.steps, help=f"images per strip (default: {d.steps})"
    )
    parser.add_argument(
        "--components",
        type=number(int, ge=1),
        metavar="N",
        default=d.components,
        help=f"of the fitted GMM (default: {d.components})",
    )
    parser.add_argument(
        "--seed", type=number(int, ge=0), metavar="N", default=d.seed, help="seed of every choice and draw (default: 0)"
    )
    parser.add_argument("--device", default="auto", metavar="NAME", help="auto, cpu, cuda, mps (default: auto)")
    args = parser.parse_args(argv)
    check(args)
    device = resolve_device(args.device)
    main = open_run(args.run).load(device)
    other = open_run(args.compare_with).load(device) if args.compare_with else None
    out = args.out or main.path / "latent"
    opts = Options(
        args.max_points,
        args.grid,
        tuple(args.quantiles),
        args.span,
        args.pairs,
        args.steps,
        args.components,
        seed=args.seed,
    )
    summary = analyse(main, out, opts, other)
    print(f"latent space of {main.checkpoint} (step {main.step}) written to {out}")
    for name, scores in summary.get("embeddings", {}).items():
        print(f"  {name:<22} k-NN acc {scores['knn_accuracy']:.3f}  trustworthiness {scores['trustworthiness']:.3f}")
    for name, path in summary["files"].items():
        print(f"  {name + ':':<17}{path}")
    print(f"  {'numbers:':<17}{out / 'latent.json'}")
    return 0


def check(args: argparse.Namespace) -> None:
    lo, hi = args.quantiles
    if not lo < hi:
        raise ConfigError(f"--quantiles LO HI must satisfy LO < HI, got {lo} {hi}")
