"""Differentiable augmentation of the images a critic sees (DiffAugment, Zhao et al. 2020; the per-sample
probability p of ADA, Karras et al. 2020).

Every operation works on a batch in [-1, 1] of any channel count and size, draws its parameters per sample,
and is differentiable in the images, so the generator learns through it. Each elementary operation is
applied to each sample independently with probability p:
  color:        brightness (add U(-0.5, 0.5)), saturation (scale the distance to the channel mean by U(0, 2);
                a no-op on one channel), contrast (scale the distance to the image mean by U(0.5, 1.5))
  translation:  shift by up to 1/8 of the side in each direction, repeating the border pixels
  cutout:       set a square of half the side, centred anywhere in the image, to 0 (mid-grey)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from deepgen.nn.spec import OPS


def per_sample(x: Tensor, low: float, high: float) -> Tensor:
    """U(low, high) per sample, shaped to broadcast over (C, H, W)."""
    return torch.empty(len(x), 1, 1, 1, device=x.device, dtype=x.dtype).uniform_(low, high)


def brightness(x: Tensor) -> Tensor:
    return x + per_sample(x, -0.5, 0.5)


def saturation(x: Tensor) -> Tensor:
    mean = x.mean(1, keepdim=True)
    return (x - mean) * per_sample(x, 0.0, 2.0) + mean


def contrast(x: Tensor) -> Tensor:
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * per_sample(x, 0.5, 1.5) + mean


def translation(x: Tensor) -> Tensor:
    """Shift each image by whole pixels, at most 1/8 of its height and width, with the border repeated."""
    n, _, h, w = x.shape

    def shifted(size: int) -> Tensor:
        limit = max(1, size // 8)
        shift = torch.randint(-limit, limit + 1, (n, 1), device=x.device)
        return (torch.arange(size, device=x.device) - shift).clamp(0, size - 1)

    rows, cols = shifted(h), shifted(w)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return x.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def cutout(x: Tensor) -> Tensor:
    """Zero a square of half the image's side whose centre is uniform over the image."""
    n, _, h, w = x.shape

    def outside(size: int, side: int) -> Tensor:
        centre = torch.randint(0, size, (n, 1), device=x.device)
        return (torch.arange(size, device=x.device) - centre).abs() > side // 2

    rows, cols = outside(h, max(1, h // 2)), outside(w, max(1, w // 2))
    keep = rows[:, :, None] | cols[:, None, :]
    return x * keep[:, None].to(x.dtype)


GROUPS: dict[str, list[Callable[[Tensor], Tensor]]] = dict(
    zip(OPS, ([brightness, saturation, contrast], [translation], [cutout]), strict=True)
)  # the elementary operations of each group, by its name in OPS


def diff_augment(x: Tensor, ops: Sequence[str], p: float | Tensor = 1.0) -> Tensor:
    """`x` with each elementary operation of the groups `ops` applied to each sample with probability `p`
    (a number or a 0-dim tensor on x's device; no host sync either way)."""
    for op in (f for group in ops for f in GROUPS[group]):
        if isinstance(p, float) and p >= 1:
            x = op(x)
        else:
            chosen = torch.rand(len(x), 1, 1, 1, device=x.device) < p
            x = torch.where(chosen, op(x), x)
    return x
