"""Model registry: `@register("name", "description")` on a model class; look up by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from deepgen.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from deepgen.models.base import GenerativeModel

_MODELS: dict[str, type[GenerativeModel]] = {}


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


def get_model(name: str) -> type[GenerativeModel]:
    known = models()
    if name not in known:
        raise ConfigError(did_you_mean(f"unknown model {name!r}; choose one of: {', '.join(known)}.", name, known))
    return known[name]
