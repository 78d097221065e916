"""Writing generated images: a folder of PNGs, one grid PNG, or an .npz of uint8 arrays."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from deepgen.data.imageset import to_uint8
from deepgen.io import atomic_write_bytes
from deepgen.models.base import GenerativeModel
from deepgen.viz.grids import grid, save_png


@torch.no_grad()
def generate(model: GenerativeModel, n: int, seed: int, batch_size: int = 500) -> Tensor:
    """`n` samples as uint8 (N, C, H, W), reproducible for a given seed."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    return torch.cat(
        [to_uint8(model.sample(min(batch_size, n - i), generator=g)).cpu() for i in range(0, n, batch_size)]
    )


def write_samples(images: Tensor, out: Path) -> Path:
    """Save uint8 images to `out`: *.npz (arrays), *.png (one grid) or a folder of numbered PNGs."""
    if out.suffix == ".npz":
        buffer = BytesIO()
        np.savez_compressed(buffer, images=images.numpy())
        atomic_write_bytes(out, buffer.getvalue())
    elif out.suffix == ".png":
        save_png(grid(images), out)
    else:
        for i, image in enumerate(images):
            save_png(image, out / f"{i:06d}.png")
    return out
