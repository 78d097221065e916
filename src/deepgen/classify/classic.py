"""Classic augmentation of training batches (float images in [-1, 1], each image drawn its own change), registered
by name (`--classic-kind`), and mixup / CutMix on images with soft labels.

    affine          small random rotations (±10°), shifts (±10%) and scalings (0.9-1.1), batched in one grid_sample
    trivialaugment  torchvision's TrivialAugmentWide (Müller & Hutter 2021), per image
    randaugment     torchvision's RandAugment (Cubuk et al. 2020; 2 ops, magnitude 9), per image
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms import v2

from deepgen.data.imageset import to_float, to_uint8
from deepgen.errors import ConfigError
from deepgen.registry import lookup

Augment = Callable[[Tensor], Tensor]  # float images (B, C, H, W) in [-1, 1] -> changed images, same shape
CLASSIC: dict[str, Callable[[bool], Augment]] = {}


def classic(name: str) -> Callable[[Callable[[bool], Augment]], Callable[[bool], Augment]]:
    def add(build: Callable[[bool], Augment]) -> Callable[[bool], Augment]:
        CLASSIC[name] = build
        return build

    return add


def classic_augmentation(kind: str = "affine", flip: bool = False) -> Augment:
    """The classic augmentation `kind`, with horizontal flips too when `flip`."""
    return lookup("--classic-kind", kind, CLASSIC)(flip)


@classic("affine")
def affine(flip: bool) -> Augment:
    def apply(x: Tensor) -> Tensor:
        n = len(x)
        angle = (torch.rand(n, device=x.device) * 2 - 1) * math.radians(10)
        scale = 0.9 + 0.2 * torch.rand(n, device=x.device)
        shift = (torch.rand(n, 2, device=x.device) * 2 - 1) * 0.2  # 10% of the image: 0.2 in grid units
        mirror = 1 - 2 * (torch.rand(n, device=x.device) < 0.5).float() if flip else torch.ones(n, device=x.device)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        rows = [torch.stack([cos * mirror, -sin, shift[:, 0]], 1), torch.stack([sin * mirror, cos, shift[:, 1]], 1)]
        theta = torch.stack(rows, 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1  # fill -1

    return apply


def per_image(transform: v2.Transform, flip: bool) -> Augment:
    """`transform` applied to each image (as uint8) in turn, after a random horizontal flip when `flip`."""
    transform = v2.Compose([v2.RandomHorizontalFlip(), transform]) if flip else transform

    def apply(x: Tensor) -> Tensor:
        return to_float(torch.stack([transform(image) for image in to_uint8(x)]))

    return apply


@classic("trivialaugment")
def trivial_augment(flip: bool) -> Augment:
    return per_image(v2.TrivialAugmentWide(), flip)


@classic("randaugment")
def rand_augment(flip: bool) -> Augment:
    return per_image(v2.RandAugment(), flip)


def mix(kind: str, x: Tensor, targets: Tensor, alpha: float = 1.0) -> tuple[Tensor, Tensor]:
    """mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019) of a batch with itself rolled by one: a share lam ~
    Beta(alpha, alpha) of each image (CutMix: all but a box) and of its soft labels `targets` (B, K)."""
    if kind not in ("mixup", "cutmix"):
        raise ConfigError(f"--mix: expected none, mixup or cutmix, got {kind!r}")
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    other, other_targets = x.roll(1, 0), targets.roll(1, 0)
    if kind == "mixup":
        return lam * x + (1 - lam) * other, lam * targets + (1 - lam) * other_targets
    h, w = x.shape[-2:]
    bh, bw = round(h * math.sqrt(1 - lam)), round(w * math.sqrt(1 - lam))
    top, left = int(torch.randint(h - bh + 1, ())), int(torch.randint(w - bw + 1, ()))
    x = x.clone()
    x[..., top : top + bh, left : left + bw] = other[..., top : top + bh, left : left + bw]
    lam = 1 - bh * bw / (h * w)
    return x, lam * targets + (1 - lam) * other_targets
