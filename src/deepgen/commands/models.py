"""deepgen models: list the models."""

from __future__ import annotations

from deepgen.arguments import Parser

USAGE = [("models", "list the models")]


def run(argv: list[str]) -> int:
    Parser(prog="deepgen models", description="List the models.").parse_args(argv)
    from deepgen.registry import catalog

    for name, entry in catalog().items():
        print(f"{name:<10} {entry.description}")
    return 0
