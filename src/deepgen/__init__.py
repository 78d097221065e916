"""deepgen: train, compare and use autoencoders, VAEs and GANs on image data.

`deepgen.train`, `deepgen.load`, ... are the Python API (deepgen.api), imported on first use so that `import deepgen`
stays cheap. Three of them share their names with subpackages (deepgen/train/, compare.py, augment/): the names stay
the API's functions when those are imported; reach the subpackages with `from deepgen.train import trainer`."""

from __future__ import annotations

import sys
import types
from typing import Any

__version__ = "0.1.0"
__all__ = ["augment", "compare", "evaluate", "load", "train"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from deepgen import api

        return getattr(api, name)
    raise AttributeError(f"module 'deepgen' has no attribute {name!r}")


class Package(types.ModuleType):
    """The deepgen module, which keeps the API names when a subpackage of the same name is imported."""

    def __setattr__(self, name: str, value: Any) -> None:
        if not (name in __all__ and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = Package
