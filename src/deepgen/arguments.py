"""Command-line parsing for every command: flags generated from option dataclasses (declared with config.opt),
one-line errors."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Collection
from dataclasses import MISSING
from pathlib import Path
from typing import Any, Literal, NoReturn

from deepgen.config import API, Bounds, DataConfig, bounds, build, cli_field_flag, coerce, hints
from deepgen.errors import ConfigError, did_you_mean

METAVARS = {int: "N", float: "X", str: "TEXT", Path: "PATH"}


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports a bad command line as one ConfigError line (exit code 2), not a usage block,
    suggesting the flag closest to an unknown one."""

    def error(self, message: str) -> NoReturn:
        api = API.get()  # the Python API gave these flags as keyword arguments: name them so
        text = message if api else f"{message} (see {self.prog} --help)"
        unknown = message.removeprefix("unrecognized arguments: ")
        if unknown != message and unknown.startswith("-"):
            text = did_you_mean(text, unknown.split()[0].partition("=")[0], self._option_string_actions)
        raise ConfigError(text)  # inside the Python API its flags become keywords (api.keywords)


def add_options(
    container: argparse._ActionsContainer,
    cls: type,
    prefix: str,
    names: Collection[str] | None = None,
    required: Collection[str] = (),
) -> None:
    """One flag (`latent_dim` -> `--latent-dim`) or positional argument per opt() field of dataclass `cls`, or per
    field in `names`; values are typed and range-checked as config files are, and stored as 'prefix.field' only
    when given (see `given`, `options`). `required`: fields the command line must give though they have a default."""
    types_ = hints(cls)
    for f in dataclasses.fields(cls):
        if "help" in f.metadata and (names is None or f.name in names):
            add_option(container, f, types_[f.name], f"{prefix}.{f.name}", f.name in required)


def add_option(container: argparse._ActionsContainer, f: dataclasses.Field, tp: Any, dest: str, required: bool) -> None:
    meta, required = f.metadata, required or default(f) is MISSING
    inner = without_none(tp)
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": meta["help"] if required else field_help(f)}
    if inner is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif origin is Literal:
        kwargs["choices"] = list(args)
    else:
        element = args[0] if origin in (list, tuple) else tp
        kwargs["type"] = value_parser(element, bounds(f))
        shown = args[0] if origin in (list, tuple) else inner
        default_metavar = f.name.upper() if meta.get("positional") else METAVARS.get(shown, "VALUE")
        kwargs["metavar"] = meta.get("metavar") or default_metavar
        if meta.get("repeat"):
            kwargs["action"] = "append"
        elif origin is tuple:
            kwargs["nargs"] = len(args)
        elif origin in (list, dict):
            kwargs["nargs"] = meta.get("nargs") or ("*" if meta.get("positional") and not required else "+")
        elif meta.get("positional") and not required:
            kwargs["nargs"] = "?"
    if meta.get("positional"):
        container.add_argument(dest, **kwargs)
    else:
        container.add_argument(cli_field_flag(f), dest=dest, required=required, **kwargs)


def default(f: dataclasses.Field) -> Any:
    """The default of field `f` (MISSING when it is required)."""
    return f.default_factory() if f.default_factory is not MISSING else f.default  # type: ignore[misc]


def field_help(f: dataclasses.Field) -> str:
    """The help text of field `f`, with its default as it would be typed (none when None, [] or required)."""
    value, text = default(f), f.metadata.get("help", "")
    if value is None or value is MISSING or (isinstance(value, (list, dict)) and not value):
        return text
    shown = " ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
    return f"{text} (default: {shown})"


def without_none(tp: Any) -> Any:
    """`X` for the type `X | None`, else `tp`."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


def value_parser(tp: Any, limits: Bounds) -> Callable[[str], Any]:
    """An argparse `type`: the text converted to `tp` and checked against `limits`, as config options are."""

    def parse(text: str) -> Any:
        try:
            return limits.check(coerce(tp, text, "value"), "value")
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix("value").lstrip(": ")) from None

    parse.__name__ = getattr(tp, "__name__", "value")  # argparse names the type in some messages
    return parse


def given(args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    """The options given on the command line under `prefix` (see add_options), by field name."""
    return {k.partition(".")[2]: v for k, v in vars(args).items() if k.partition(".")[0] == prefix}


def options(cls: type, args: argparse.Namespace, prefix: str, **fixed: Any) -> Any:
    """An instance of option dataclass `cls`: the options given under `prefix`, the defaults of the others, and
    the `fixed` fields as they are (those without a flag, e.g. a nested config)."""
    return build(cls, given(args, prefix), f"{prefix} options", **fixed)


EVALUATED_DATA = ("data", "data_root", "image_size", "fit", "channels", "test_fraction", "split_seed", "dedupe")


def add_data_options(
    parser: argparse.ArgumentParser, required: bool, names: Collection[str] = EVALUATED_DATA
) -> argparse._ArgumentGroup:
    """A "data" group with the DataConfig options in `names` (by default those that change what an evaluator
    sees), --data required if `required`; returns the group for further flags."""
    group = parser.add_argument_group("data")
    add_options(group, DataConfig, "data", names, required=("data",) if required else ())
    return group


def data_options(args: argparse.Namespace) -> DataConfig:
    """The data options given, with what a folder leaves to its files resolved (and printed) once (see resolved)."""
    from deepgen.data import resolved

    return resolved(options(DataConfig, args, "data"))
