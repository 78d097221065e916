"""Images out of a model, for people: `model.sample(n)` gives float (N, C, H, W) in [-1, 1]; these turn that (or
uint8 images) into uint8 tensors, PIL images and PNG grids. `deepgen.to_uint8`, `deepgen.to_pil`, `deepgen.grid`
and `deepgen.save_grid` are these functions."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from deepgen.data.imageset import to_uint8 as float_to_uint8
from deepgen.errors import ConfigError
from deepgen.viz.grids import grid as uint8_grid
from deepgen.viz.grids import save_png


def to_uint8(images: Tensor) -> Tensor:
    """Float images in [-1, 1] (as models give them) -> uint8 in [0, 255], on the CPU; uint8 images pass through.
    Any shape: (N, C, H, W) or one (C, H, W)."""
    if not isinstance(images, Tensor):
        raise ConfigError(f"images: expected a torch tensor (N, C, H, W) or (C, H, W), got {type(images).__name__}")
    if images.dtype == torch.uint8:
        return images.cpu()
    if not images.is_floating_point():
        raise ConfigError(f"images: expected float in [-1, 1] or uint8, got {images.dtype}")
    if not torch.isfinite(images).all():
        raise ConfigError("images: expected float in [-1, 1], got NaN or infinite values (a model that diverged?)")
    return float_to_uint8(images).cpu()


def to_pil(images: Tensor) -> Image.Image | list[Image.Image]:
    """One image (C, H, W) -> a PIL image ('L' for 1 channel, 'RGB' for 3); a batch (N, C, H, W) -> a list."""
    images = to_uint8(images)
    if images.dim() == 4:
        return [to_pil(image) for image in images]
    if images.dim() != 3 or images.shape[0] not in (1, 3):
        raise ConfigError(f"images: expected (C, H, W) with 1 or 3 channels, got shape {tuple(images.shape)}")
    array = images.permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if images.shape[0] == 1 else array)


def grid(images: Tensor, nrow: int | None = None) -> Image.Image:
    """A batch (N, C, H, W) as one PIL image, `nrow` images per row (default: square), 2 px white gaps."""
    images = to_uint8(images)
    if images.dim() != 4:
        raise ConfigError(f"images: expected a batch (N, C, H, W), got shape {tuple(images.shape)}")
    return to_pil(uint8_grid(images, nrow))


def save_grid(images: Tensor, path: str | Path, nrow: int | None = None, overwrite: bool = False) -> Path:
    """Save a batch (N, C, H, W) as one PNG grid at `path` (written atomically); returns the path. An existing file
    is refused (a ConfigError) unless `overwrite`."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"save_grid: {path} should end in .png")
    if not overwrite and (path.exists() or path.is_symlink()):
        raise ConfigError(f"save_grid: {path} exists already; choose another path, or give overwrite=True")
    images = to_uint8(images)
    if images.dim() != 4:
        raise ConfigError(f"images: expected a batch (N, C, H, W), got shape {tuple(images.shape)}")
    save_png(uint8_grid(images, nrow), path)
    return path
