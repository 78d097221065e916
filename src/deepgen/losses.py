"""Loss terms shared by the models."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

ReconLoss = Literal["mse", "bce"]


def reconstruction(logits: Tensor, x: Tensor, kind: ReconLoss) -> Tensor:
    """Per-image reconstruction loss summed over pixels, (B,).

    `logits` are the decoder's per-pixel outputs (pixel = sigmoid(logit)); `x` is the image in
    [-1, 1]. Both losses work on the [0, 1] pixel scale: squared error or Bernoulli cross-entropy.
    """
    target = (x + 1) / 2
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    else:
        per_pixel = (torch.sigmoid(logits) - target).square()
    return per_pixel.flatten(1).sum(1)


def kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over latent dimensions, (B,)."""
    return 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(1)


def logits_to_image(logits: Tensor) -> Tensor:
    """Decoder logits -> image in [-1, 1]."""
    return torch.sigmoid(logits) * 2 - 1
