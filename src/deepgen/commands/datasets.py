"""deepgen datasets: list the datasets, or write one as a folder of images (a class sub-folder each)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deepgen.arguments import Parser, add_options, options
from deepgen.config import opt

USAGE = [
    ("datasets", "list the datasets"),
    ("datasets --export NAME DIR [--per-class N]", "write a dataset as DIR/CLASS/*.png, a folder to try folder: on"),
]


@dataclass
class DatasetsArgs:
    export: tuple[str, str] | None = opt(
        None,
        "write dataset NAME (any --data; its training and test images) as PNGs into a new folder DIR, one "
        "sub-folder per class: the layout --data folder:DIR reads",
        metavar=("NAME", "DIR"),
    )
    per_class: int | None = opt(None, "with --export: the first N images of each class only", ge=1)


def run(argv: list[str]) -> int:
    parser = Parser(prog="deepgen datasets", description="List the datasets (--data NAME), or --export one.")
    add_options(parser, DatasetsArgs, "datasets")
    args = options(DatasetsArgs, parser.parse_args(argv), "datasets")
    if args.export is not None:
        from deepgen.data.export import export

        name, folder = args.export
        count, classes = export(name, Path(folder), args.per_class)
        print(f"wrote {count} images of {name} into {folder}/, a sub-folder per class ({', '.join(classes)}): "
              f"use it as --data folder:{folder}")  # fmt: skip
        return 0
    if args.per_class is not None:
        parser.error("--per-class goes with --export NAME DIR")
    from deepgen.data.sources import SOURCES

    for name, source in SOURCES.items():
        print(f"{name:<14} {source.description}" + ("  [ships with deepgen]" if source.offline else ""))
    return 0
