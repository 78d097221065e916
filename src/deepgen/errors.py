"""Errors meant for the user: each message names the file or option and what was expected."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class Note(UserWarning):
    """Something the user should know that is not a problem (the CLI prints it as 'note: ...')."""


class DeepgenError(Exception):
    """Base class; the CLI prints these as one line, without a traceback, and exits with `exit_code`."""

    exit_code = 1


class ConfigError(DeepgenError):
    """A bad option, config file or override."""

    exit_code = 2


class DataError(DeepgenError):
    """A dataset that is missing, empty or unreadable."""

    exit_code = 2


class CheckpointError(DeepgenError):
    """A run directory or checkpoint that cannot be loaded."""

    exit_code = 2


class OutputError(DeepgenError):
    """A file that cannot be written: a full or read-only disk, a folder that is a file, no permission."""


class NonFiniteLossError(DeepgenError):
    """A loss became NaN, infinite or exploded, or weights became non-finite, during training."""


class Interrupted(DeepgenError):
    """Ctrl-C or SIGTERM stopped a training that a larger job (compare, augment) depends on."""

    exit_code = 130


def did_you_mean(message: str, name: str, known: Iterable[str]) -> str:
    """`message` with the known name closest to `name`, if one is close: "...; did you mean 'x'?" (a new
    sentence after a full stop)."""
    close = difflib.get_close_matches(name, list(known), n=1)
    if not close:
        return message
    return f"{message}{' Did' if message.endswith('.') else '; did'} you mean {close[0]!r}?"
