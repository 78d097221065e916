"""Datasets as uint8 images (N, C, H, W), int64 labels and class names, split into train/test.

Naming and sizing a dataset needs no torch; ImageSet, Splits, to_float and to_uint8 (deepgen.data.imageset) are
imported on first use."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from deepgen.config import DataConfig, validate
from deepgen.data.sources import SOURCES
from deepgen.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from deepgen.data.imageset import ImageSet, Splits, to_float, to_uint8

__all__ = ["ImageSet", "Splits", "images_fit", "load_data", "resolved", "source_name", "to_float", "to_uint8"]
LAZY = ("ImageSet", "Splits", "to_float", "to_uint8")


def __getattr__(name: str) -> Any:
    if name in LAZY:
        from deepgen.data import imageset

        return getattr(imageset, name)
    raise AttributeError(f"module 'deepgen.data' has no attribute {name!r}")


def source_name(spec: str) -> str:
    """'folder:/some/path' -> 'folder'; other names are returned as they are, once checked."""
    name = "folder" if spec.startswith("folder:") else spec
    if name not in SOURCES or spec == "folder":
        choose = f"unknown dataset {spec!r} for --data; choose {', '.join(SOURCES)} (as folder:PATH)."
        raise ConfigError(did_you_mean(choose, name, SOURCES))
    if name == "folder" and not spec.partition(":")[2].strip():
        raise ConfigError("--data folder: needs a path, e.g. --data folder:path/to/images")
    return name


def resolved(cfg: DataConfig, log: Callable[[str], None] = print) -> DataConfig:
    """`cfg` with what was left to the data filled in, so that callers can record it (a run's config.yaml then
    reproduces it) and later loads of it are silent: the image size and channels a folder's files give when
    --image-size and --channels were not given (each choice logged here, once; the channels only when the folder
    mixes grey and colour images), and whether copies across the split leave the test split (--dedupe: by
    default on for folder: data, off for the built-in data sets, whose splits published scores use)."""
    name = source_name(cfg.data)
    source, changes = SOURCES[name], {}
    if cfg.image_size is None and source.measure is not None:
        size, why = source.measure(cfg)
        log(f"image size {size} px for {cfg.data} ({why}); --image-size N chooses another")
        changes["image_size"] = size
    if cfg.channels is None and source.channels is not None:
        channels, why = source.channels(cfg)
        if why:
            kind = {1: "grey", 3: "RGB"}
            log(
                f"channels {channels} ({kind[channels]}) for {cfg.data}: {why}; --channels {4 - channels} reads "
                f"every image in {kind[4 - channels]}"
            )
        changes["channels"] = channels
    if cfg.dedupe is None:
        changes["dedupe"] = name == "folder"
    return dataclasses.replace(cfg, **changes) if changes else cfg


Plan = Callable[[int, tuple[int, int, int], list[str]], None]


def images_fit(cfg: DataConfig) -> Plan:
    """The default plan of load_data: refuse a data set whose images, at the size asked for, exceed the free memory."""

    def plan(n: int, shape: tuple[int, int, int], classes: list[str]) -> None:
        from deepgen.config import flag
        from deepgen.limits import image_bytes, need_memory

        need_memory(
            image_bytes(n, shape),
            f"{flag('data', cfg.data)}: {n} images of {'x'.join(map(str, shape))}",
            f"lower {flag('image_size')} or read fewer images",
        )

    return plan


def load_data(cfg: DataConfig, plan: Plan | None = None) -> Splits:
    """Load, convert, resize and split the dataset `cfg.data` as configured; warn of what the cheap data checks find
    (Splits.checks), and with `cfg.dedupe` (by default for folders, see `resolved`) leave out of the test split the
    images with a copy in the training split (Splits.left_out). Before the images are resized, `plan(n, shape,
    classes)` (default: `images_fit`) may refuse what `n` images of the final `shape` (C, H, W) would take (the
    trainer adds its model and batch)."""
    import warnings

    import torch

    from deepgen.data.imageset import ImageSet, Splits, limit_per_class, resize, set_channels, split
    from deepgen.data.quality.onload import DataWarning, check_on_load

    name = source_name(cfg.data)
    validate(cfg)
    source = SOURCES[name]
    cfg = resolved(cfg)
    train, test = source.read(cfg)
    origin = "its own test split" if test is not None else f"split seed {cfg.split_seed}"
    if test is None:
        train, test = split(train, cfg.test_fraction, cfg.split_seed, cfg.data)
    size = cfg.image_size or source.image_size
    channels = cfg.channels or train.images.shape[1]
    (plan or images_fit(cfg))(len(train) + len(test), (channels, size, size), train.classes)

    def prepare(data: ImageSet) -> ImageSet:
        images = resize(data.images, size, cfg.fit)
        if cfg.channels is not None:
            images = set_channels(images, cfg.channels)
        return ImageSet(images, data.labels, data.classes)

    train, test = prepare(train), prepare(test)
    found = check_on_load(train, test, origin, cfg.dedupe, cfg.data)
    for line in found.lines:
        warnings.warn(line, DataWarning, stacklevel=1)  # one location: the same line is shown once per process
    left_out = int(found.leaked.sum()) if cfg.dedupe else 0
    if cfg.dedupe:
        test = test.subset(torch.nonzero(~found.leaked).squeeze(1))
    if cfg.limit_per_class is not None:
        train = limit_per_class(train, cfg.limit_per_class, cfg.split_seed)
    return Splits(cfg.data, train, test, found.lines, left_out)
