"""deepgen models: list the models."""

from __future__ import annotations

from deepgen.arguments import Parser

USAGE = [("models", "list the models")]


def run(argv: list[str]) -> int:
    Parser(prog="deepgen models", description="List the models.").parse_args(argv)
    from deepgen.registry import models

    for name, cls in models().items():
        print(f"{name:<10} {cls.description}")
    return 0
