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


def class_grid(images: Tensor, labels: Tensor) -> Tensor:
    """uint8 images of classes `labels` -> a grid with a row per class (in class order), as wide as the largest."""
    order = labels.argsort(stable=True)
    return grid(images[order], int(torch.bincount(labels).max()))


def save_png(image: Tensor, path: Path) -> None:
    """Save a uint8 (C, H, W) image atomically."""
    buffer = BytesIO()
    array = image.permute(1, 2, 0).numpy()
    Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def reconstruction_grid(originals: Tensor, reconstructions: Tensor, nrow: int = 8) -> Tensor:
    """Rows of originals (float [-1, 1]), each followed by a row of their reconstructions."""
    rows = []
    for a, b in zip(to_uint8(originals).split(nrow), to_uint8(reconstructions).split(nrow)):
        rows += [a, b]
    return grid(torch.cat(rows), nrow=nrow)
