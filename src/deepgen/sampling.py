"""Writing generated images: a folder of PNGs (a sub-folder per class when labelled), one grid PNG,
or an .npz of uint8 arrays."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from deepgen.data.imageset import to_float, to_uint8
from deepgen.io import atomic_write_bytes
from deepgen.models.base import GenerativeModel
from deepgen.viz.grids import grid, save_png


@torch.no_grad()
def generate(model: GenerativeModel, n: int, seed: int, labels: Tensor | None = None, batch_size: int = 500) -> Tensor:
    """`n` samples (of the classes `labels`, for conditional models) as uint8 (N, C, H, W); seeded."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    chunks = []
    for i in range(0, n, batch_size):
        part = None if labels is None else labels[i : i + batch_size]
        chunks.append(to_uint8(model.sample(min(batch_size, n - i), generator=g, labels=part)).cpu())
    return torch.cat(chunks)


@torch.no_grad()
def vary_images(
    model: GenerativeModel,
    images: Tensor,
    strength: float,
    seed: int,
    labels: Tensor | None = None,
    batch_size: int = 500,
) -> Tensor:
    """Variations (model.vary) of uint8 real `images` (of the classes `labels`, when known) as uint8; seeded."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    chunks = []
    for i in range(0, len(images), batch_size):
        x = to_float(images[i : i + batch_size].to(model.device))
        part = None if labels is None else labels[i : i + batch_size].to(model.device)
        chunks.append(to_uint8(model.vary(x, strength, generator=g, labels=part)).cpu())
    return torch.cat(chunks)


def balanced_labels(num_classes: int, per_class: int) -> Tensor:
    """0, 0, ..., 1, 1, ...: `per_class` of each class."""
    return torch.arange(num_classes).repeat_interleave(per_class)


def write_samples(images: Tensor, out: Path, labels: Tensor | None = None, classes: list[str] | None = None) -> Path:
    """Save uint8 images to `out`: *.npz (images, labels, class names), *.png (one grid; a row per class when
    `labels` are given) or a folder of numbered PNGs, in a sub-folder per class when `labels` are given."""
    if out.suffix == ".npz":
        arrays = {"images": images.numpy()}
        if labels is not None:
            arrays |= {"labels": labels.numpy(), "classes": np.array(classes)}
        buffer = BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(out, buffer.getvalue())
    elif out.suffix == ".png":
        nrow = None
        if labels is not None:
            images, nrow = images[labels.argsort(stable=True)], int(torch.bincount(labels).max())
        save_png(grid(images, nrow), out)
    else:
        for i, image in enumerate(images):
            folder = out if labels is None else out / folder_name(classes[labels[i]])
            save_png(image, folder / f"{i:06d}.png")
    return out


def folder_name(class_name: str) -> str:
    """A class name usable as one folder name ('T-shirt/top' -> 'T-shirt_top')."""
    return class_name.replace("/", "_").replace("\\", "_")
