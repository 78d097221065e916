"""Image grids (torchvision) saved as PNG."""

from __future__ import annotations

import math
from io import BytesIO
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torchvision.utils import make_grid

from deepgen.data.imageset import to_uint8
from deepgen.io import atomic_write_bytes


def grid(images: Tensor, nrow: int | None = None) -> Tensor:
    """uint8 (N, C, H, W) -> uint8 (3, H', W') grid, `nrow` images per row (default: square)."""
    nrow = nrow or math.ceil(math.sqrt(len(images)))
    return make_grid(images.cpu(), nrow=nrow, padding=2, pad_value=255)


FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}  # by suffix (any case); PNG for the others


def class_grid(images: Tensor, labels: Tensor, classes: int | None = None) -> Tensor:
    """uint8 images of classes `labels` -> a grid with a row per class (0 .. `classes` - 1, default the largest
    label), as wide as the largest class; shorter rows end in blank (white) cells."""
    k = classes or int(labels.max()) + 1
    width = max(1, int(torch.bincount(labels, minlength=k).max()))
    blank = torch.full_like(images[:1], 255)
    rows = [
        torch.cat([images[labels == c], blank.expand(width - int((labels == c).sum()), -1, -1, -1)]) for c in range(k)
    ]
    return grid(torch.cat(rows), width)


def save_png(image: Tensor, path: Path) -> None:
    """Save a uint8 (C, H, W) image atomically, as PNG (JPEG, quality 95, when `path` ends in .jpg or .jpeg)."""
    buffer = BytesIO()
    array = image.permute(1, 2, 0).numpy()
    kind = FORMATS.get(path.suffix.lower(), "PNG")
    Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(buffer, format=kind, quality=95)
    atomic_write_bytes(path, buffer.getvalue())


def reconstruction_grid(originals: Tensor, reconstructions: Tensor, nrow: int = 8) -> Tensor:
    """Rows of originals (float [-1, 1]), each followed by a row of their reconstructions."""
    rows = []
    for a, b in zip(to_uint8(originals).split(nrow), to_uint8(reconstructions).split(nrow)):
        rows += [a, b]
    return grid(torch.cat(rows), nrow=nrow)
