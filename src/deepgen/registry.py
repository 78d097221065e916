"""Registries by decorator: `@register("name", "description")` on a model class and `@register_classifier(...)`
on a classifier builder; look up by name, with a "did you mean" hint for a misspelt one.

Adding a model is one file in deepgen/models/ with `@register("name", "description")` (both plain string literals)
on its class: `catalog` reads those lines without importing anything, so listing the models needs no torch, and
`get_model` imports the one module that defines the model asked for."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from deepgen.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from deepgen.classify.base import Classifier as ClassifierNet
    from deepgen.classify.base import ClassifierEntry, Spec
    from deepgen.models.base import GenerativeModel

_MODELS: dict[str, type[GenerativeModel]] = {}
_CLASSIFIERS: dict[str, ClassifierEntry] = {}
T = TypeVar("T")


def register(name: str, description: str) -> Callable[[type[GenerativeModel]], type[GenerativeModel]]:
    def add(cls: type[GenerativeModel]) -> type[GenerativeModel]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        cls.name, cls.description = name, description
        _MODELS[name] = cls
        return cls

    return add


class ModelEntry(NamedTuple):
    module: str  # the module whose import registers the model
    description: str
    config: str = ""  # "module:Name" of its config class, as its source imports it ("": not known, see config_class)
    sampling_options: tuple[str, ...] = ()  # its config fields that `deepgen sample` may change


def entry(cls: type[GenerativeModel]) -> ModelEntry:
    """The entry of an imported (registered) model class."""
    return ModelEntry(cls.__module__, cls.description, sampling_options=tuple(getattr(cls, "sampling_options", ())))


def catalog() -> dict[str, ModelEntry]:
    """Every model's module and description, by name: those of deepgen/models/*.py, read from their `@register(...)`
    decorators without importing them, and any registered from elsewhere (a plugin's own module, imported)."""
    found = {n: entry(cls) for n, cls in _MODELS.items()}
    return dict(sorted((found | scanned()).items()))


@cache
def scanned() -> dict[str, ModelEntry]:
    """The models of deepgen/models/*.py, read from the `@register(...)` decorators in their source (parsed, not
    imported: cheap), with where each model's config class lives (its class body's `Config = Name`, `Name` as the
    module imports it: `from X import Name`) and its `sampling_options`. A decorator whose arguments are not string
    literals makes its module imported to find them."""
    found: dict[str, ModelEntry] = {}
    folder = Path(__file__).parent / "models"
    for info in pkgutil.iter_modules([str(folder)]):
        if info.ispkg:  # deepgen.models.configs: the models' configs, no model
            continue
        module = f"deepgen.models.{info.name}"
        tree = ast.parse((folder / f"{info.name}.py").read_text(encoding="utf-8"))
        imported = {
            a.asname or a.name: f"{node.module}:{a.name}"
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module
            for a in node.names
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for d in node.decorator_list:
                    if isinstance(d, ast.Call) and getattr(d.func, "id", None) == "register":
                        found.update(registered(module, d, class_facts(node, imported)))
    return found


def class_facts(node: ast.ClassDef, imported: dict[str, str]) -> dict[str, Any]:
    """From a model's class body: `config` ("module:Name" of `Config = Name` when `Name` is imported by name) and
    `sampling_options` (a literal tuple)."""
    facts: dict[str, Any] = {}
    for statement in node.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = getattr(statement.targets[0], "id", None), statement.value
            if target == "Config" and isinstance(value, ast.Name) and value.id in imported:
                facts["config"] = imported[value.id]
            elif target == "sampling_options":
                facts["sampling_options"] = tuple(ast.literal_eval(value))
    return facts


def registered(module: str, call: ast.Call, facts: dict[str, Any]) -> dict[str, ModelEntry]:
    """The entry of one `@register(name, description)` call in `module`, with `facts` from its class body."""
    try:
        name, description = (ast.literal_eval(a) for a in call.args)
    except ValueError:  # not literals: import the module and read what it registered
        importlib.import_module(module)
        return {n: entry(cls) for n, cls in _MODELS.items() if cls.__module__ == module}
    return {name: ModelEntry(module, description, **facts)}


def config_class(name: str) -> type:
    """The config dataclass of model `name`, importing only the module that defines it (deepgen.models.configs: no
    torch), or else the model's own module (a plugin, a config the source does not import by name)."""
    found = lookup("model", name, catalog())
    if name in _MODELS or not found.config:
        return get_model(name).Config
    module, _, attr = found.config.partition(":")
    return getattr(importlib.import_module(module), attr)


def models() -> dict[str, type[GenerativeModel]]:
    """All registered models (their classes), by name; imports every model module."""
    for entry in catalog().values():
        importlib.import_module(entry.module)
    return dict(sorted(_MODELS.items()))


def lookup(kind: str, name: str, known: dict[str, T], shown: list[str] | None = None) -> T:
    """`known[name]`, or a ConfigError listing the choices (`shown`, default the keys) with the closest match."""
    if not isinstance(name, str) or name not in known:
        choices = shown or list(known)
        if not isinstance(name, str):
            raise ConfigError(f"expected the name of a {kind} (one of: {', '.join(choices)}); got {name!r}")
        raise ConfigError(did_you_mean(f"unknown {kind} {name!r}; choose one of: {', '.join(choices)}.", name, choices))
    return known[name]


def get_model(name: str) -> type[GenerativeModel]:
    """The class of model `name`, importing only its module."""
    if name not in _MODELS:
        importlib.import_module(lookup("model", name, catalog()).module)
    return _MODELS[name]


def register_classifier(
    name: str, description: str, family: bool = False, pretrained: bool = False
) -> Callable[[Callable[[Spec, str], ClassifierNet]], Callable[[Spec, str], ClassifierNet]]:
    """Register a classifier builder `build(spec, variant) -> Classifier`. A `family` is named NAME:VARIANT
    (e.g. torchvision:resnet18; `variant` is the part after the colon); `pretrained`: it offers ImageNet weights."""
    from deepgen.classify.base import ClassifierEntry

    def add(build: Callable[[Spec, str], ClassifierNet]) -> Callable[[Spec, str], ClassifierNet]:
        if name in _CLASSIFIERS:
            raise ValueError(f"classifier {name!r} is registered twice")
        _CLASSIFIERS[name] = ClassifierEntry(name, description, build, family, pretrained)
        return build

    return add


def classifiers() -> dict[str, ClassifierEntry]:
    """All registered classifiers, by name (families as NAME:VARIANT)."""
    from deepgen.classify import backbones, small_cnn, stacked_ae  # noqa: F401  (importing registers them)

    return dict(sorted(_CLASSIFIERS.items()))


def get_classifier(name: str) -> tuple[ClassifierEntry, str]:
    """The entry of `name` ('small-cnn', 'torchvision:resnet18', ...) and its variant ('' if none)."""
    family, colon, variant = name.partition(":")
    known = classifiers()
    entry = lookup("--classifier", family, known, [e.usage for e in known.values()])
    if entry.family != bool(colon and variant):
        raise ConfigError(f"--classifier {name!r}: write it as {entry.usage}")
    return entry, variant
