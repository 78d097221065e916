"""Registries by decorator: `@register("name", "description")` on a model class and `@register_classifier(...)`
on a classifier builder; look up by name, with a "did you mean" hint for a misspelt one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

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


def models() -> dict[str, type[GenerativeModel]]:
    """All registered models, by name."""
    import deepgen.models  # noqa: F401  (importing registers them)

    return dict(sorted(_MODELS.items()))


def lookup(kind: str, name: str, known: dict[str, T], shown: list[str] | None = None) -> T:
    """`known[name]`, or a ConfigError listing the choices (`shown`, default the keys) with the closest match."""
    if name not in known:
        choices = shown or list(known)
        raise ConfigError(did_you_mean(f"unknown {kind} {name!r}; choose one of: {', '.join(choices)}.", name, choices))
    return known[name]


def get_model(name: str) -> type[GenerativeModel]:
    return lookup("model", name, models())


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
