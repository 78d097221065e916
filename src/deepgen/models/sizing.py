"""Automatic sizing: options left at `auto` get values fitted to the data and the device when training starts.

Each model config inherits `AutoSized` and overrides `sized`, its rule: a mapping from the data's image size,
channels and number of training images, and the device, to a value for every `auto` option it declares (and
for the training batch size). `RunConfig.size_to` applies the rule to the options still at `auto`, so an option
given explicitly is never replaced, and the trainer writes the resolved values to config.yaml. A model built
outside training (tests, the Python API) fills its remaining `auto` options from its image shape alone.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from deepgen.nn.spec import halvings

DEFAULT_STEPS = 2000  # training steps of every model, unless its rule says otherwise
EMA_HALF_LIFE = 10_000  # real images over which a generator's moving average halves an old weight's share


@dataclass(frozen=True)
class Sizing:
    """What the automatic defaults are sized to."""

    image_size: int
    channels: int
    n_images: int | None = None  # training images; None: not known (a model built outside training)
    device: str = "cpu"  # the device type: cpu, cuda or mps
    n_classes: int | None = None  # classes present in the training images; None: not known (taken as one)

    @property
    def gpu(self) -> bool:
        return self.device != "cpu"

    @property
    def pixels(self) -> int:
        return self.channels * self.image_size**2

    def __str__(self) -> str:
        images = f"{self.n_images} images" if self.n_images is not None else "images unknown"
        classes = f" in {self.n_classes} classes" if self.n_classes is not None and self.n_images is not None else ""
        return f"{self.image_size} px, {self.channels} ch, {images}{classes}, {self.device}"


class AutoSized:
    """A model config whose `auto` options (declared with `config.auto`) are sized by `sized`."""

    def sized(self, s: Sizing, batch_size: int | None) -> dict[str, Any]:
        """Values for this config's `auto` options and for `batch_size` (`batch_size`: the one given, or None)."""
        return {"batch_size": default_batch(s), "steps": DEFAULT_STEPS}


def default_batch(s: Sizing) -> int:
    """64 images on a CPU (more, smaller steps in a time budget), 128 on a GPU; at most an eighth of the data."""
    batch = 128 if s.gpu else 64
    return batch if s.n_images is None else max(8, min(batch, s.n_images // 8))


def pow2(x: float, low: int, high: int) -> int:
    """The power of two nearest to `x` (on a log scale), clamped to [low, high]."""
    return int(min(max(2 ** round(math.log2(max(x, 1))), low), high))


def ema_decay(batch: int, half_life: float = EMA_HALF_LIFE) -> float:
    """The per-step decay of a moving average whose half-life is `half_life` real images."""
    return round(0.5 ** (batch / half_life), 5)


def resolutions(image_size: int) -> list[int]:
    """The resolutions a network grown from its smallest size passes through (e.g. 7, 14, 28)."""
    n, start = halvings(image_size)
    return [start * 2**i for i in range(n + 1)]


def filled(config: Any, shape: tuple[int, int, int]) -> Any:
    """`config` with its remaining `auto` options (None) sized to `shape` alone; `config` itself if none are."""
    if not isinstance(config, AutoSized):
        return config
    pending = [f.name for f in dataclasses.fields(config) if f.metadata.get("auto") and getattr(config, f.name) is None]
    if not pending:
        return config
    values = config.sized(Sizing(shape[1], shape[0]), None)
    return dataclasses.replace(config, **{name: values[name] for name in pending})
