"""deepgen: train, compare and use autoencoders, VAEs and GANs on image data.

`deepgen.train`, `deepgen.load`, ... are the Python API (deepgen.api), imported on first use so that `import deepgen`
stays cheap. No subpackage shares a name with them: the code behind them lives in `deepgen.training`,
`deepgen.comparison` and `deepgen.augmentation`."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["augment", "compare", "evaluate", "load", "train", "synthetic", "ImageDataset", "MixedBatchSampler"]
DATA = {"synthetic": "deepgen.augmentation.synthetic", "ImageDataset": "deepgen.data.mixing"}
DATA["MixedBatchSampler"] = "deepgen.data.mixing"  # generated images in users' own training loops


def __getattr__(name: str) -> Any:
    if name in DATA:
        import importlib

        return getattr(importlib.import_module(DATA[name]), name)
    if name in __all__:
        from deepgen import api

        return getattr(api, name)
    raise AttributeError(f"module 'deepgen' has no attribute {name!r}")
