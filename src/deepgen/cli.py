"""The `deepgen` command: finds the commands in deepgen.commands and runs one, printing user errors plainly.

The command list (`deepgen --help`) reads each command module's USAGE literal from its source, without importing
it, and a command imports its heavy libraries (torch, ...) only when it runs: listing and --help start at once."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import sys
import warnings
from pathlib import Path

import deepgen.commands
from deepgen.errors import DeepgenError, Note


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    warnings.formatwarning = lambda message, category, *args, **kwargs: (
        f"{'note' if issubclass(category, Note) else 'warning'}: {message}\n"
    )
    names = sorted(m.name for m in pkgutil.iter_modules(deepgen.commands.__path__))
    if not argv or argv[0] not in names:
        asked_for_help = bool(argv) and argv[0] in ("-h", "--help")
        print(usage(names), file=sys.stdout if asked_for_help else sys.stderr)
        return 0 if asked_for_help else 2
    command = importlib.import_module(f"deepgen.commands.{argv[0]}")
    try:
        result = command.run(argv[1:])  # an exit status, or a result object (eval, compare, augment) to print
    except DeepgenError as e:
        print(f"deepgen: error: {e}", file=sys.stderr)
        return e.exit_code
    if isinstance(result, int):
        return result
    print(result)
    return 0


def usage(names: list[str]) -> str:
    lines = [f"usage: deepgen {{{','.join(names)}}} ...", ""]
    for name in names:
        for line, description in usage_of(name):
            lines.append(f"  {line:<58} {description}")
    return "\n".join(lines)


def usage_of(name: str) -> list[tuple[str, str]]:
    """The USAGE list of command `name`, read from its module's source (a literal), not imported."""
    source = Path(deepgen.commands.__path__[0], f"{name}.py").read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "USAGE" for t in node.targets):
            return ast.literal_eval(node.value)
    raise ValueError(f"deepgen/commands/{name}.py has no USAGE list")
