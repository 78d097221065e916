"""What the checks measure on each image: grey-level statistics, sharpness, and a signature for near copies."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

SIGNATURE_SIZE = 32  # near copies are compared at most this many pixels across (grey, area-averaged)
CHUNK = 1024  # images per block of statistics and of similarity products (bounds memory)
LAPLACIAN = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])


@dataclass
class ImageStats:
    """Per-image measurements of uint8 (N, C, H, W) images, on their grey values (the mean over channels)."""

    low: Tensor  # 1st percentile of the grey values
    high: Tensor  # 99th percentile
    lowest: Tensor  # minimum
    highest: Tensor  # maximum
    mean: Tensor  # mean brightness
    levels: Tensor  # distinct grey values used
    entropy: Tensor  # of the 256-bin grey histogram, bits
    sharpness: Tensor  # variance of the Laplacian / variance of the pixels (scale-free; low = blurry)

    def __len__(self) -> int:
        return len(self.mean)


def grey(images: Tensor) -> Tensor:
    """(N, H, W) float grey values in [0, 255]."""
    return images.float().mean(1)


def measure(images: Tensor) -> ImageStats:
    """ImageStats of uint8 (N, C, H, W) images."""
    parts = [measure_chunk(chunk) for chunk in images.split(CHUNK)]
    return ImageStats(*(torch.cat([getattr(p, f) for p in parts]) for f in ImageStats.__dataclass_fields__))


def measure_chunk(images: Tensor) -> ImageStats:
    g = grey(images)
    flat = g.flatten(1)
    values = flat.round().long().clamp_(0, 255)
    ordered = values.sort(1).values
    n = flat.shape[1]
    low, high = ordered[:, int(0.01 * (n - 1))].float(), ordered[:, round(0.99 * (n - 1))].float()
    levels = (ordered.diff(1) != 0).sum(1) + 1
    hist = torch.zeros(len(flat), 256).scatter_add_(1, values, torch.ones_like(flat))
    p = hist / n
    entropy = -(p * p.clamp_min(1e-12).log2()).sum(1)
    if min(g.shape[1:]) >= 3:
        lap = F.conv2d(g[:, None], LAPLACIAN[None, None]).flatten(1).var(1)
        sharpness = lap / flat.var(1).clamp_min(1e-6)
    else:
        sharpness = torch.full((len(g),), float("nan"))
    return ImageStats(
        low, high, ordered[:, 0].float(), ordered[:, -1].float(), flat.mean(1), levels, entropy, sharpness
    )


def signatures(images: Tensor) -> Tensor:
    """(N, D) unit vectors: each image in grey, area-averaged to at most SIGNATURE_SIZE pixels across, less its mean
    brightness. Their dot product is ~1 for the same picture re-encoded, re-scaled in brightness or contrast, or
    lightly noised; a constant image gets the zero vector (only its exact copies match it)."""
    out = []
    for chunk in images.split(CHUNK):
        g = grey(chunk)[:, None]
        h, w = g.shape[-2:]
        if max(h, w) > SIGNATURE_SIZE:
            scale = SIGNATURE_SIZE / max(h, w)
            g = F.adaptive_avg_pool2d(g, (max(1, round(h * scale)), max(1, round(w * scale))))
        v = g.flatten(1)
        v = v - v.mean(1, keepdim=True)
        norm = v.norm(dim=1, keepdim=True)
        out.append(torch.where(norm > 1e-3, v / norm.clamp_min(1e-3), torch.zeros_like(v)))
    return torch.cat(out)


def pixel_digests(images: Tensor) -> list[bytes]:
    """A digest of each image's exact pixels (equal digests: exact copies)."""
    flat = images.contiguous().flatten(1).numpy()
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]
