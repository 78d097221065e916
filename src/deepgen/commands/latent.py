"""deepgen latent: pictures of a run's latent space, with the numbers in latent.json."""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from pathlib import Path

from deepgen.arguments import Parser, add_options, options
from deepgen.config import opt
from deepgen.errors import ConfigError
from deepgen.latent.options import Options

USAGE = [("latent RUN [--compare-with RUN2] [--max-points N]", "latent scatter vs PCA/t-SNE, manifold, interpolations")]


@dataclass
class LatentArgs:
    run: Path = opt(MISSING, "run directory (or a checkpoint directory inside it)", positional=True)
    compare_with: Path | None = opt(None, "a run on the same data to show beside it", metavar="RUN2")
    out: Path | None = opt(None, "output folder (default: RUN/latent)", metavar="DIR")
    device: str = opt("auto", "auto, cpu, cuda, mps", metavar="NAME")


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="deepgen latent",
        description="Embedding comparison (k-NN accuracy, trustworthiness), manifold grid, interpolations, "
        "random walks and samples from Gaussians fitted to the codes, as PNGs and latent.json.",
    )
    add_options(parser, LatentArgs, "latent")
    add_options(parser.add_argument_group("analysis"), Options, "analysis")
    parsed = parser.parse_args(argv)
    args, opts = options(LatentArgs, parsed, "latent"), options(Options, parsed, "analysis")
    if args.out is not None and any(p.exists() and not p.is_dir() for p in (args.out, *args.out.parents)):
        raise ConfigError(f"--out {args.out} is, or lies under, a file; give a folder for the figures")
    from deepgen.device import resolve_device
    from deepgen.latent.analyse import analyse
    from deepgen.run import open_run

    device = resolve_device(args.device)
    main = open_run(args.run).load(device)
    other = open_run(args.compare_with).load(device) if args.compare_with else None
    out = args.out or main.path / "latent"
    summary = analyse(main, out, opts, other)
    print(f"latent space of {main.checkpoint} (step {main.step}) written to {out}")
    for name, scores in summary.get("embeddings", {}).items():
        print(f"  {name:<22} k-NN acc {scores['knn_accuracy']:.3f}  trustworthiness {scores['trustworthiness']:.3f}")
    for name, path in summary["files"].items():
        print(f"  {name + ':':<17}{path}")
    print(f"  {'numbers:':<17}{out / 'latent.json'}")
    return 0
