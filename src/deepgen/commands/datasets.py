"""deepgen datasets: list the datasets."""

from __future__ import annotations

from deepgen.arguments import Parser

USAGE = [("datasets", "list the datasets")]


def run(argv: list[str]) -> int:
    from deepgen.data.sources import SOURCES

    Parser(prog="deepgen datasets", description="List the datasets (--data NAME).").parse_args(argv)
    for name, source in SOURCES.items():
        print(f"{name:<14} {source.description}" + ("  [ships with deepgen]" if source.offline else ""))
    return 0
