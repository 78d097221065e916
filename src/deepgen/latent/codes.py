"""Batched encoding/decoding through the model interface, and seeded prior draws."""

from __future__ import annotations

import torch
from torch import Tensor

from deepgen.data import to_float, to_uint8
from deepgen.models.base import GenerativeModel


@torch.no_grad()
def encode(model: GenerativeModel, images: Tensor, batch_size: int = 500) -> Tensor:
    """uint8 (N, C, H, W) images -> (N, D) float codes on the CPU."""
    return torch.cat([model.encode(to_float(x.to(model.device))).cpu() for x in images.split(batch_size)])


@torch.no_grad()
def decode(model: GenerativeModel, z: Tensor, labels: Tensor | None = None, batch_size: int = 500) -> Tensor:
    """(N, D) codes -> uint8 (N, C, H, W) images on the CPU; conditional models decode class 0 unless `labels`."""
    if model.conditional and labels is None:
        labels = torch.zeros(len(z), dtype=torch.long)
    out = []
    for i in range(0, len(z), batch_size):
        part = None if labels is None else labels[i : i + batch_size].to(model.device)
        out.append(to_uint8(model.decode(z[i : i + batch_size].float().to(model.device), part)).cpu())
    return torch.cat(out)


@torch.no_grad()
def prior_draws(model: GenerativeModel, n: int, seed: int) -> Tensor:
    """`n` seeded codes from the model's prior, on the CPU."""
    return model.prior(n, torch.Generator().manual_seed(seed)).cpu()
