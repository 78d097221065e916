"""A data set as `deepgen inspect` sees it: its images as deepgen reads them, a name for each (the file, for folders),
the split that --split-seed makes (deepgen's own split code), and what only the files tell (size, mode, unreadable)."""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from deepgen.config import DataConfig
from deepgen.data import resolved, source_name
from deepgen.data.folder import MAX_AUTO_SIZE, class_files, existing_dir, open_image, read_images
from deepgen.data.imageset import ImageSet, split_index
from deepgen.data.sources import SOURCES, folder_path
from deepgen.errors import DataError


@dataclass
class Collection:
    data: str  # the --data it came from
    images: Tensor  # uint8 (N, C, H, W), as deepgen reads them
    labels: Tensor
    classes: list[str]
    names: list[str]  # each image's file (relative to the folder) or position
    test: Tensor | None  # bool mask: in the test split (None when the data cannot be split)
    split: str  # where the split comes from, or why there is none
    sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) of each file, for folders
    modes: list[str] = field(default_factory=list)  # PIL mode of each file (or of the array's channels)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    def __post_init__(self) -> None:
        c, h, w = self.images.shape[1:]
        self.sizes = self.sizes or [(int(w), int(h))] * len(self)  # arrays: the size and mode they are read at
        self.modes = self.modes or [{1: "L", 3: "RGB"}.get(int(c), f"{c} channels")] * len(self)

    def __len__(self) -> int:
        return len(self.labels)


def collect(cfg: DataConfig) -> Collection:
    """Read `cfg.data` for inspection (a folder at the size deepgen would read it at)."""
    name = source_name(cfg.data)
    if name == "folder":
        return collect_folder(resolved(cfg), folder_path(cfg))
    train, test = SOURCES[name].read(cfg)
    if test is not None:
        data = ImageSet(torch.cat([train.images, test.images]), torch.cat([train.labels, test.labels]), train.classes)
        names = [f"train #{i}" for i in range(len(train))] + [f"test #{i}" for i in range(len(test))]
        mask = torch.arange(len(data)) >= len(train)
        return Collection(cfg.data, data.images, data.labels, data.classes, names, mask, "its own test split")
    mask, why = split_mask(train, cfg)
    return Collection(cfg.data, train.images, train.labels, train.classes, [f"#{i}" for i in range(len(train))], mask,
                      why)  # fmt: skip


def split_mask(data: ImageSet, cfg: DataConfig) -> tuple[Tensor | None, str]:
    """The test images of the split load_data makes, or None and why it cannot split."""
    try:
        _, test = split_index(data, cfg.test_fraction, cfg.split_seed, cfg.data)
    except DataError as e:
        return None, f"no split: {e}"
    mask = torch.zeros(len(data), dtype=torch.bool)
    mask[test] = True
    return mask, f"split seed {cfg.split_seed}, test fraction {cfg.test_fraction:g}"


def collect_folder(cfg: DataConfig, path: str) -> Collection:
    root = existing_dir(path)
    class_dirs, files, labels = class_files(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unreadable files become a finding
        images, ok = read_images(files, cfg.image_size or MAX_AUTO_SIZE, cfg.channels, root, cfg.fit)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        headers = list(pool.map(header, files))
    kept = [i for i in range(len(files)) if ok[i]]
    unreadable = [(str(files[i].relative_to(root)), open_image(files[i])[1]) for i in range(len(files)) if not ok[i]]
    data = ImageSet(images, torch.tensor(labels)[ok], [d.name for d in class_dirs])
    mask, why = split_mask(data, cfg)
    return Collection(
        cfg.data, data.images, data.labels, data.classes, [str(files[i].relative_to(root)) for i in kept], mask, why,
        [headers[i][0] for i in kept], [headers[i][1] for i in kept], unreadable,
    )  # fmt: skip


def header(path: Path) -> tuple[tuple[int, int], str]:
    """(width, height) and mode from an image file's header ((0, 0) and '?' when unreadable)."""
    try:
        with Image.open(path) as img:
            return img.size, img.mode
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return (0, 0), "?"
