"""The `deepgen` command: finds the commands in deepgen.commands and runs one, printing user errors plainly."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import warnings

import deepgen.commands
from deepgen.errors import DeepgenError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"
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
        for line, description in importlib.import_module(f"deepgen.commands.{name}").USAGE:
            lines.append(f"  {line:<58} {description}")
    return "\n".join(lines)
