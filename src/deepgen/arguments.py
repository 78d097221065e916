"""Command-line parsing shared by the commands: one-line errors and range-checked numbers."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

from deepgen.config import Bounds, coerce
from deepgen.errors import ConfigError


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports a bad command line as one ConfigError line (exit code 2), not a usage block."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message} (see {self.prog} --help)")


def number(tp: type, **bounds: object) -> Callable[[str], int | float]:
    """An argparse `type`: a finite int or float within `Bounds(**bounds)` (e.g. `number(int, ge=1)`),
    checked as config options are."""
    limits = Bounds(**bounds)  # type: ignore[arg-type]

    def parse(text: str) -> int | float:
        try:
            return limits.check(coerce(tp, text, "value"), "value")
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix("value: ")) from None

    parse.__name__ = tp.__name__  # argparse names the type in some messages
    return parse
