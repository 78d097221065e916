"""Errors meant for the user: each message names the file or option and what was expected."""


class DeepgenError(Exception):
    """Base class; the CLI prints these without a traceback."""


class ConfigError(DeepgenError):
    """A bad option, config file or override."""


class DataError(DeepgenError):
    """A dataset that is missing, empty or unreadable."""


class CheckpointError(DeepgenError):
    """A run directory or checkpoint that cannot be loaded."""


class NonFiniteLossError(DeepgenError):
    """A loss became NaN or infinite during training."""
