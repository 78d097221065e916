"""Paths through latent space: linear and spherical interpolation between pairs of codes (encoded real images
for models with an encoder, prior draws otherwise) and walks along random directions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from deepgen.latent.codes import decode, encode
from deepgen.models.base import GenerativeModel
from deepgen.sampling import output_files, write_samples
from deepgen.viz.grids import grid, save_png

Mode = Literal["linear", "spherical"]


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """(K, D) starts, (K, D) ends, (T,) fractions -> (K, T, D) points on the straight lines."""
    return a[:, None] + t[None, :, None] * (b - a)[:, None]


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 for generative models): along the great circle
    between the directions of `a` and `b`; linear where they are (anti)parallel. Shapes as in `lerp`."""
    omega = torch.arccos((F.normalize(a, dim=1) * F.normalize(b, dim=1)).sum(1).clamp(-1, 1))[:, None, None]
    sin = torch.sin(omega)
    tt = t[None, :, None]
    arc = (torch.sin((1 - tt) * omega) * a[:, None] + torch.sin(tt * omega) * b[:, None]) / sin
    return torch.where(sin.abs() < 1e-6, lerp(a, b, t), arc)


def interpolate(a: Tensor, b: Tensor, steps: int, mode: Mode) -> Tensor:
    """`steps` evenly spaced points from each row of `a` to the same row of `b`, both ends included: (K, T, D)."""
    t = torch.linspace(0, 1, steps, dtype=a.dtype)
    return (slerp if mode == "spherical" else lerp)(a, b, t)


def random_walks(start: Tensor, steps: int, distance: float, generator: torch.Generator) -> Tensor:
    """From `distance` before to `distance` after each (K, D) start along a random unit direction: (K, T, D)."""
    direction = F.normalize(torch.randn(start.shape, generator=generator), dim=1)
    s = torch.linspace(-distance, distance, steps)
    return start[:, None] + s[None, :, None] * direction[:, None]


@dataclass
class Strips:
    images: Tensor  # uint8 (K, T, C, H, W) decoded along each path
    ends: Tensor | None  # uint8 (K, 2, C, H, W): the real images at the two ends, when codes were encoded
    source: str  # "encoded test images" or "prior draws"


def endpoints(model: GenerativeModel, k: int, seed: int, images: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
    """Start and end codes of `k` paths: encoded pairs of random `images` when the model has an encoder, else
    pairs of prior draws; with the pairs of images (uint8 (K, 2, C, H, W)) when encoded."""
    g = torch.Generator().manual_seed(seed)
    if model.can_encode:
        if images is None or len(images) < 2:
            raise ValueError("interpolating an encoder model needs at least two images")
        pick = torch.randperm(len(images), generator=g)[: 2 * k]
        pairs = images[pick[: len(pick) // 2 * 2]].unflatten(0, (-1, 2))
        return encode(model, pairs[:, 0]), encode(model, pairs[:, 1]), pairs
    return model.prior(k, g).cpu(), model.prior(k, g).cpu(), None


def decode_paths(model: GenerativeModel, paths: Tensor) -> Tensor:
    """(K, T, D) codes -> uint8 (K, T, C, H, W); conditional models draw path i in class i mod the class count."""
    k, t = paths.shape[:2]
    labels = (torch.arange(k) % len(model.classes)).repeat_interleave(t) if model.conditional else None
    return decode(model, paths.flatten(0, 1), labels).unflatten(0, (k, t))


def strips(model: GenerativeModel, k: int, steps: int, mode: Mode, seed: int, images: Tensor | None = None) -> Strips:
    """`k` interpolation strips of `steps` images each (see `endpoints`)."""
    a, b, ends = endpoints(model, k, seed, images)
    source = "encoded test images" if ends is not None else "prior draws"
    return Strips(decode_paths(model, interpolate(a, b, steps, mode)), ends, source)


def write_strips(images: Tensor, out: Path) -> None:
    """Save uint8 (K, T, C, H, W) strips: *.npz (that array), *.png (one grid, a strip per row) or a folder with
    one PNG per strip. Never overwrites a file."""
    files = output_files(out, len(images), name="strip_{:03d}.png")
    if out.suffix == ".npz":
        write_samples(images, out)
    elif out.suffix == ".png":
        save_png(grid(images.flatten(0, 1), nrow=images.shape[1]), out)
    else:
        for strip, path in zip(images, files):
            save_png(grid(strip, nrow=len(strip)), path)
