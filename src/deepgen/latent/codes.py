"""A trained run opened for latent work, and batched encoding/decoding through the model interface."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from deepgen.config import RunConfig
from deepgen.data import to_float, to_uint8
from deepgen.models.base import GenerativeModel


@dataclass
class OpenRun:
    path: Path  # the run directory
    checkpoint: Path
    model: GenerativeModel
    step: int
    config: RunConfig


def open_run(path: Path, device: torch.device) -> OpenRun:
    """The newest checkpoint of a run directory (or the checkpoint directory given) and the run's config."""
    from deepgen.train.checkpoint import WEIGHTS, build_model, latest_checkpoint

    ckpt = path if (path / WEIGHTS).is_file() else latest_checkpoint(path)
    run = path if ckpt != path else ckpt.parent.parent
    model, meta = build_model(ckpt / WEIGHTS, device)
    model.eval()
    return OpenRun(run, ckpt, model, meta["step"], RunConfig.load(run / "config.yaml"))


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
