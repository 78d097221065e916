"""Errors meant for the user: each message names the file or option and what was expected."""


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


class NonFiniteLossError(DeepgenError):
    """A loss became NaN, infinite or exploded, or weights became non-finite, during training."""


class Interrupted(DeepgenError):
    """Ctrl-C or SIGTERM stopped a training that a larger job (compare, augment) depends on."""

    exit_code = 130
