"""deepgen inspect: a health check of a data set before anything trains on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepgen.arguments import Parser, add_data_options, add_options, data_options, options
from deepgen.config import opt

USAGE = [
    ("inspect --data NAME|folder:PATH", "copies (also across the split), dynamic range, odd images: inspect.html"),
]
DATA = ("data", "data_root", "image_size", "fit", "channels", "test_fraction", "split_seed")
NEAR = 0.99  # deepgen.data.quality.duplicates.NEAR, kept here so that --help needs no heavy import


@dataclass
class InspectArgs:
    out: Path | None = opt(None, "folder for inspect.md, inspect.html and its thumbnails (default: runs/inspect-DATA)")
    similarity: float = opt(
        NEAR,
        "signature similarity from which two images count as near copies (1: the same picture; at least 0.9: less "
        "alike images are not copies, and every pair of them would be listed)",
        ge=0.9,
        le=1,
    )
    thumbnails: int = opt(24, "thumbnails per finding in inspect.html", ge=1)


def run(argv: list[str]) -> int:
    parser = Parser(
        prog="deepgen inspect",
        description="Check a data set: per class its counts, sizes, modes, grey levels and brightness; unreadable "
        "files; exact and near copies within a class, across classes and across the train/test split that "
        "--split-seed makes; dark, light, low-information and blurry images; odd sizes; tiny and unbalanced classes.",
    )
    add_data_options(parser, required=True, names=DATA)
    add_options(parser, InspectArgs, "inspect")
    parsed = parser.parse_args(argv)
    args = options(InspectArgs, parsed, "inspect")

    from deepgen.data.quality.collect import collect
    from deepgen.data.quality.findings import inspect
    from deepgen.data.quality.report import printed, write
    from deepgen.run import data_slug, new_run_name

    cfg = data_options(parsed)
    result = inspect(collect(cfg), args.similarity)
    print(printed(result))
    paths = write(result, args.out or new_run_name("inspect", data_slug(cfg.data)), args.thumbnails)
    print()
    for name, path in paths.items():
        print(f"  {name + ':':<10}{path}")
    return 0
