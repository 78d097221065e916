"""deepgen: train, compare and use autoencoders, VAEs and GANs on image data.

`deepgen.train`, `deepgen.load`, ... are the Python API (deepgen.api), and `deepgen.to_uint8`, `to_pil`, `grid`,
`save_grid` the image helpers (deepgen.images), imported on first use so that `import deepgen` stays cheap. No
subpackage shares a name with them: the code behind them lives in `deepgen.training`, `deepgen.comparison` and
`deepgen.augmentation`."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
_HOMES = {
    **dict.fromkeys(["augment", "compare", "evaluate", "load", "train"], "deepgen.api"),
    **dict.fromkeys(["grid", "save_grid", "to_pil", "to_uint8"], "deepgen.images"),
    "synthetic": "deepgen.augmentation.synthetic",  # generated images in users' own training loops
    **dict.fromkeys(["ImageDataset", "MixedBatchSampler"], "deepgen.data.mixing"),
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'deepgen' has no attribute {name!r}")
