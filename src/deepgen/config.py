"""Run configuration: typed dataclasses with working defaults, YAML files and `key=value` overrides.

A run is described by three sections plus the model's own config dataclass:

    model: vae
    data: {data: mnist10k, image_size: null, ...}
    train: {steps: null, batch_size: null, ...}   (null: auto, sized to the data when training starts)
    model_config: {latent_dim: 32, ...}

Every field is also a command-line flag (`latent_dim` -> `--latent-dim`), so field names are
unique across sections.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

import yaml

from deepgen.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from deepgen.models.sizing import Sizing

SECTIONS = ("data", "train", "model_config")
MAX_IMAGE_SIZE = 1024  # the largest image side an option or a checkpoint may ask for (StyleGAN's FFHQ size)
MAX_SEED = 2**32 - 1  # what every seeded library (numpy, scikit-learn, torch) accepts
MAX_INT = 2**63 - 1  # the largest whole number a tensor holds
API: ContextVar[bool] = ContextVar("deepgen_api", default=False)  # inside a Python API call (see `flag`)
MAX_AUTO_SIZE = 128  # the largest image size a folder is read at without --image-size
PRESETS = Path(__file__).resolve().parents[2] / "configs"  # the checkout's presets: --config configs/NAME.yaml


@dataclass(frozen=True)
class Bounds:
    """The values an option accepts (each element, for lists): ge/gt/le/lt limits and/or choices; `size`: the
    length of a list."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] | None = None
    size: int | None = None

    def check(self, value: Any, where: str) -> Any:
        """`value` (None passes), or a ConfigError naming `where` and what was expected."""
        if self.size is not None and isinstance(value, (list, tuple)) and len(value) != self.size:
            raise ConfigError(f"{where}: expected {self.size} values, got {value!r}")
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is not None and not self.admits(v):
                raise ConfigError(f"{where}: expected {self}, got {v!r}")
        return value

    def admits(self, v: Any) -> bool:
        if self.choices is not None and v not in self.choices:
            return False
        return not (
            (self.ge is not None and v < self.ge)
            or (self.gt is not None and v <= self.gt)
            or (self.le is not None and v > self.le)
            or (self.lt is not None and v >= self.lt)
        )

    def __str__(self) -> str:
        if self.choices is not None:
            return " or ".join(map(str, self.choices))
        low = f">= {written(self.ge)}" if self.ge is not None else "" if self.gt is None else f"> {written(self.gt)}"
        high = f"<= {written(self.le)}" if self.le is not None else "" if self.lt is None else f"< {written(self.lt)}"
        return " and ".join(p for p in (low, high) if p) or "any value"


def written(v: float) -> str:
    """A bound as written: whole numbers in full (4294967295, not 4.29497e+09)."""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def opt(
    default: Any,
    help: str,
    resumable: bool = False,
    flag: str | None = None,
    metavar: str | tuple[str, ...] | None = None,
    positional: bool = False,
    repeat: bool = False,
    nargs: str | None = None,
    needs: str | None = None,
    unless: str | tuple[str, ...] = (),
    **bounds: Any,
) -> Any:
    """A config field: default (MISSING: required), help text, accepted values (`ge`, `gt`, `le`, `lt`, `choices`,
    `size`: see Bounds); `resumable`: a resumed run may change it (it does not alter the computation). Its command
    line form (see arguments.add_options): `flag` (default --field-name), `metavar`, `positional`, `repeat` (one
    flag per list item), `nargs` ('*': a list may be empty). When it takes effect (see `takes_effect`): `needs`, a
    condition on another field of the same dataclass ("name": given, "name=value", "name!=value"); `unless`, the
    fields whose being given replaces it. Lists and mappings are copied per instance."""
    cli = {"flag": flag, "metavar": metavar, "positional": positional, "repeat": repeat, "nargs": nargs}
    effect = {"needs": needs, "unless": (unless,) if isinstance(unless, str) else tuple(unless)}
    return config_field(default, {"help": help, "bounds": Bounds(**bounds), "resumable": resumable, **cli, **effect})


def auto(help: str, resumable: bool = False, **bounds: Any) -> Any:
    """An option sized to the data and the device when training starts, unless given (see models/sizing.py): its
    default is None ("auto"), and the model config's `sized` rule must give it a value."""
    option = opt(None, f"{help} (default: auto, sized to the data)", resumable, **bounds)
    return field(default=None, metadata={**option.metadata, "auto": True})


def config_field(default: Any, metadata: Mapping[str, Any]) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def with_defaults(cls: type, name: str, **defaults: Any) -> type:
    """A subclass of config dataclass `cls` named `name`, with new defaults for some fields (help and bounds kept)."""
    known, types_ = {f.name: f for f in dataclasses.fields(cls)}, hints(cls)
    fields = [(k, types_[k], config_field(v, known[k].metadata)) for k, v in defaults.items()]
    return dataclasses.make_dataclass(name, fields, bases=(cls,), namespace={"__module__": cls.__module__})


@dataclass
class DataConfig:
    data: str = opt("mnist10k", "dataset: mnist10k, digits, mnist, fashion-mnist, cifar10, celeba or folder:PATH")
    data_root: str = opt(
        "~/.cache/deepgen/data", "where mnist/fashion-mnist/cifar10/celeba files live (torchvision layout)"
    )
    download: bool = opt(False, "download the dataset into --data-root if its files are missing")
    image_size: int | None = opt(
        None, "make images this size (see --fit); default: the dataset's own", ge=4, le=MAX_IMAGE_SIZE
    )
    fit: Literal["crop", "pad"] = opt(
        "crop", "crop: resize the shorter side and centre-crop; pad: shrink to fit if larger, then pad with black"
    )
    channels: int | None = opt(None, "1 (grayscale) or 3 (RGB); default: the dataset's own", choices=(1, 3))
    limit_per_class: int | None = opt(None, "keep at most N training images per class (simulates scarce data)", ge=1)
    test_fraction: float = opt(0.2, "held-out share for datasets without an official test split", gt=0, lt=1)
    split_seed: int = opt(0, "seed of the train/test split and of --limit-per-class", ge=0, le=MAX_SEED)
    dedupe: bool | None = opt(
        None,
        "leave out of the test split every image with an exact or near copy in the training split (default: on "
        "for folder: data, off for the built-in data sets)",
    )
    hflip: bool = opt(False, "random horizontal flips of training batches")


@dataclass
class TrainConfig:
    steps: int | None = auto(
        "total training steps (one step = every phase of the model once)", resumable=True, unless="epochs", ge=1
    )
    epochs: float | None = opt(
        None, "train this many passes over the training split instead of --steps", resumable=True, gt=0
    )
    batch_size: int | None = auto("images per batch", ge=1)
    seed: int = opt(0, "seed of weights, noise and batch order", ge=0, le=MAX_SEED)
    device: str = opt("auto", "auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps", resumable=True)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = opt(
        "auto", "autocast precision of the training step (auto: bf16 on GPUs that support it, else fp32)"
    )
    channels_last: bool = opt(False, "keep images and convolution weights channels-last (faster on recent GPUs)")
    compile: bool = opt(False, "torch.compile the networks (falls back to eager where compilation fails)")
    cuda_graphs: bool = opt(
        False, "replay each training step as one CUDA graph (fast small batches; falls back to eager where it cannot)"
    )
    log_every: int = opt(
        10, "steps between logged losses (metrics.jsonl, TensorBoard, progress bar)", resumable=True, ge=1
    )
    sample_every: int = opt(500, "steps between sample/reconstruction grids", resumable=True, ge=1)
    checkpoint_every: int = opt(
        1000, "steps between checkpoints (one is always written at the end)", resumable=True, ge=1
    )
    keep_checkpoints: int = opt(2, "how many recent checkpoints to keep", resumable=True, ge=1)
    sync_batchnorm: bool = opt(False, "under torchrun, BatchNorm statistics over the whole batch (CUDA)")
    time_limit: float | None = opt(
        None, "stop (with a final checkpoint) after this many seconds of training", resumable=True, gt=0
    )
    out: str | None = opt(None, "run directory (default: runs/MODEL-DATA, numbered if taken)", resumable=True)
    tensorboard: bool = opt(True, "write TensorBoard events to RUN/tb", resumable=True)
    collapse_ratio: float = opt(
        0.2,
        "warn of mode collapse when samples are less diverse than this share of real images",
        resumable=True,
        ge=0,
        le=1,
    )


@dataclass
class RunConfig:
    model: str
    data: DataConfig
    train: TrainConfig
    model_config: Any

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, **{s: dataclasses.asdict(getattr(self, s)) for s in SECTIONS}}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str) -> RunConfig:
        from deepgen.registry import config_class

        if not isinstance(raw, dict) or not isinstance(raw.get("model"), str):
            raise ConfigError(f"{where}: expected a mapping with a 'model' key naming a model")
        unknown = set(raw) - {"model", *SECTIONS}
        if unknown:
            raise ConfigError(f"{where}: unknown section(s) {sorted(unknown)}; expected model, {', '.join(SECTIONS)}")
        model_config = config_class(raw["model"])
        return cls(
            model=raw["model"],
            data=build(DataConfig, raw.get("data") or {}, f"{where}: data"),
            train=build(TrainConfig, raw.get("train") or {}, f"{where}: train"),
            model_config=build(model_config, raw.get("model_config") or {}, f"{where}: model_config"),
        )

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """A run config file; `configs/NAME.yaml` not found here is the preset of that name (see PRESETS)."""
        path = Path(path)
        preset = PRESETS / path.relative_to("configs") if path.parts[:1] == ("configs",) else None
        if not path.is_file() and preset is not None and preset.is_file():
            path = preset
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {e}") from None
        return cls.from_dict(raw, str(path))

    @classmethod
    def default(cls, model: str) -> RunConfig:
        from deepgen.registry import config_class

        return cls(model, DataConfig(), TrainConfig(), config_class(model)())

    def validate(self) -> None:
        """Check every option against its bounds (the command line and config files are checked as they are read;
        this catches configs built in code)."""
        for section in SECTIONS:
            validate(getattr(self, section))

    def check_effect(self, given: Collection[str]) -> None:
        """Refuse the options in `given` ("name" or "section.name") that cannot take effect (see takes_effect)."""
        names = {key.rpartition(".")[2] for key in given}
        for section in SECTIONS:
            takes_effect(getattr(self, section), names)

    def resumable(self) -> set[str]:
        """Options a resumed run may change, as they do not alter the computation (declared with opt(resumable=))."""
        return {name for name, (_, f) in self.fields().items() if f.metadata.get("resumable")}

    def changes_from(self, before: RunConfig) -> list[str]:
        """'name: old -> new' for each option that differs from `before`, but for the resumable ones."""
        if self.model != before.model:
            return [f"model: {before.model} -> {self.model}"]
        old, new = before.to_dict(), self.to_dict()
        return [
            f"{name}: {old[section][name]!r} -> {new[section][name]!r}"
            for name, (section, _) in self.fields().items()
            if name not in self.resumable() and old[section].get(name) != new[section][name]
        ]

    def fields(self) -> dict[str, tuple[str, dataclasses.Field]]:
        """Field name -> (section, field) over all sections."""
        return {f.name: (s, f) for s in SECTIONS for f in dataclasses.fields(getattr(self, s))}

    def size_to(self, sizing: Sizing) -> dict[str, Any]:
        """Give each option still at auto its value under the model config's rule for `sizing`; returns them."""
        pending = {
            name: section
            for name, (section, f) in self.fields().items()
            if f.metadata.get("auto") and getattr(getattr(self, section), name) is None
        }
        if not pending:
            return {}
        values = self.model_config.sized(sizing, self.train.batch_size)
        for name, section in pending.items():
            setattr(getattr(self, section), name, values[name])
        return {name: values[name] for name in pending}

    def set(self, key: str, value: Any) -> None:
        """Set `section.field` or a bare `field` (names are unique across sections)."""
        section, _, name = key.rpartition(".")
        known = self.fields()
        if name not in known or (section and known[name][0] != section):
            raise ConfigError(did_you_mean(f"unknown option {key!r} for model {self.model!r}", name, known))
        section, f = known[name]
        obj = getattr(self, section)
        setattr(obj, name, checked(f, hints(type(obj))[name], value, field_flag(f)))

    def apply_overrides(self, pairs: list[str], skip_unknown: bool = False) -> list[str]:
        """Apply `--set key=value` strings (but those naming no option of this model, with `skip_unknown`);
        returns those applied."""
        applied = []
        for pair in pairs:
            key, value = key_value(pair, flag("set"))
            if not skip_unknown or key.rpartition(".")[2] in self.fields():
                self.set(key, value)
                applied.append(pair)
        return applied


def takes_effect(obj: Any, given: Collection[str]) -> None:
    """A ConfigError for an option of config dataclass `obj` that was given (its name in `given`: on the command
    line, as a keyword or in --set) but cannot take effect with the values of the others, as opt(needs=, unless=)
    declares: an option silently ignored is a result the user did not ask for."""
    for f in dataclasses.fields(obj):
        if f.name not in given:
            continue
        needs, unless = f.metadata.get("needs"), f.metadata.get("unless", ())
        if needs and not condition_holds(obj, needs):
            name, _, value = needs.replace("!=", "=").partition("=")
            wanted = f"{flag(name)} other than {value}" if "!=" in needs else flag(name, value) if value else flag(name)
            raise ConfigError(f"{field_flag(f)} takes effect only with {wanted}; drop it or give {wanted}")
        replaced = [name for name in unless if name in given or condition_holds(obj, name)]
        if replaced:
            raise ConfigError(
                f"{field_flag(f)} cannot take effect with {flag(replaced[0])}, which replaces it; give one of them"
            )


def condition_holds(obj: Any, condition: str) -> bool:
    """Whether `condition` ("name": set, i.e. not None, False, "none" or empty; "name=value"; "name!=value") holds
    for the fields of `obj`."""
    negated = "!=" in condition
    name, _, value = condition.replace("!=", "=").partition("=")
    current = getattr(obj, name)
    if not value:
        return current not in (None, False, "none") and current != [] and current != {}
    return (str(current) == value) != negated


def given_once(options: Iterable[str], overrides: Sequence[str]) -> None:
    """A ConfigError when an option is given twice: as a flag (or keyword; `options` as "name" or "section.name")
    and in a --set pair of `overrides`, or in two --set pairs. Which one wins would be an accident of order."""
    seen: dict[str, str] = {}
    spelled_as = [(key, flag(key.rpartition(".")[2])) for key in options]
    spelled_as += [(key_value(pair, flag("set"))[0], f"{flag('set')} {pair}") for pair in overrides]
    for key, shown in spelled_as:
        name = key.rpartition(".")[2]
        if name in seen:
            raise ConfigError(f"{seen[name]} and {shown} both set {name}; give it once")
        seen[name] = shown


def key_value(text: str, where: str) -> tuple[str, str]:
    """'key=value' -> (key, value), stripped; a ConfigError naming `where` otherwise."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{where} expects key=value, got {text!r}")
    return key.strip(), value.strip()


def hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def build(cls: type, values: dict[str, Any], where: str, **fixed: Any) -> Any:
    """Instantiate config dataclass `cls` from a mapping, checking names and types (`fixed`: fields taken as is)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(values).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in names:
            raise ConfigError(did_you_mean(f"{where}: unknown option {key!r}", key, names))
    types_, fields = hints(cls), {f.name: f for f in dataclasses.fields(cls)}
    return cls(**{k: checked(fields[k], types_[k], v, f"{where}: {k}") for k, v in values.items()}, **fixed)


def checked(f: dataclasses.Field, tp: Any, value: Any, where: str) -> Any:
    """`value` converted to type `tp` and checked against the bounds of field `f`."""
    return bounds(f).check(coerce(tp, value, where), where)


def argument(name: str, value: Any, tp: Any, **limits: Any) -> Any:
    """A Python API function's argument `name` converted to type `tp` and checked against `limits` (see Bounds) as
    an option would be: `argument("batch_size", "10", int, ge=1)` is 10; `argument("batch_size", 0, int, ge=1)` a
    ConfigError naming batch_size."""
    return Bounds(**limits).check(coerce(tp, value, name), name)


def bounds(f: dataclasses.Field) -> Bounds:
    return f.metadata.get("bounds", Bounds())


def validate(obj: Any) -> None:
    """Check every field of config dataclass `obj` as a config file's would be (its type, choices and bounds), for
    configs built or changed in code (`model.config.guidance = float('nan')`): the one check of every option, so
    the Python API refuses what the command line and --set refuse. A value of another type that converts (the
    string "10" for a whole number) is replaced by the converted one."""
    types_ = hints(type(obj))
    for f in dataclasses.fields(obj):
        if "help" in f.metadata:
            setattr(obj, f.name, checked(f, types_[f.name], getattr(obj, f.name), field_flag(f)))


def cli_flag(name: str) -> str:
    """The command-line flag of config field `name` (unless declared with another, see cli_field_flag)."""
    return "--" + name.replace("_", "-")


def cli_field_flag(f: dataclasses.Field) -> str:
    """The command-line flag of field `f`: the one declared with opt(flag=...), else `cli_flag(f.name)`."""
    return f.metadata.get("flag") or cli_flag(f.name)


def flag(name: str, *value: Any) -> str:
    """Option `name` (with its `value`, if given) as the user gives it, for messages: `--latent-dim 2` on the command
    line, `latent_dim=2` inside a Python API call (see `api_call`)."""
    return spelled(cli_flag(name), *value)


def field_flag(f: dataclasses.Field) -> str:
    """Field `f` as the user gives it, for messages (its declared flag on the command line, see `flag`)."""
    return spelled(cli_field_flag(f))


def spelled(cli: str, *value: Any) -> str:
    if API.get():
        return f"{keyword(cli)}={value[0]!r}" if value else keyword(cli)
    return f"{cli} {value[0]}" if value else cli


def keyword(cli: str) -> str:
    """The Python API's keyword argument for command-line flag `cli` (`--latent-dim` -> `latent_dim`)."""
    return cli.removeprefix("--").replace("-", "_")


FLAG = re.compile(r"(?<![\w/.-])--[a-z][a-z0-9-]*")  # a flag in a message, not part of a path or a word


def as_keywords(text: str) -> str:
    """`text` with every flag named as its keyword (see `keyword`): what an error says inside a Python API call,
    whichever part of deepgen wrote it."""
    return FLAG.sub(lambda m: keyword(m[0]), text)


@contextmanager
def api_call() -> Iterator[None]:
    """Within the block, messages name options as the Python API's keyword arguments (see `flag`)."""
    token = API.set(True)
    try:
        yield
    finally:
        API.reset(token)


def coerce(tp: Any, value: Any, where: str) -> Any:
    """Convert `value` (a string from the command line, or a YAML value) to type `tp`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "auto")):
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return coerce(inner, value, where)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {', '.join(map(str, args))}; got {value!r}")
        return value
    if origin in (list, tuple):
        if isinstance(value, str):
            text = value.strip()
            value = yaml.safe_load(text) if text.startswith("[") else [v for v in text.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {value!r}")
            return tuple(coerce(a, v, where) for a, v in zip(args, value))
        return [coerce(args[0], v, where) for v in value]
    if origin is dict:  # a mapping, 'k=v,k2=v2', or a list of 'k=v' strings or mappings
        parts = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else [value]
        pairs = [p.items() if isinstance(p, Mapping) else [key_value(str(p), where)] for p in parts]
        return {coerce(args[0], k, where): coerce(args[1], v, where) for items in pairs for k, v in items}
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        kind = "a whole number" if tp is int else "a finite number"
        try:
            number = float(value) if isinstance(value, str) else value
            if not math.isfinite(number) or (tp is int and (float(number) != int(number) or abs(number) > MAX_INT)):
                raise ValueError
            return tp(number)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{where}: expected {kind}, got {value!r}") from None
    if tp in (str, Path):
        return tp(value)
    raise TypeError(f"unsupported config type {tp}")
