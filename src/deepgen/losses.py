"""Loss terms shared by the models."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from deepgen.nn.spec import AdversarialLoss, ReconLoss


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


def critic_terms(kind: AdversarialLoss, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
    """The discriminator's loss terms from its raw scores on real and generated images."""
    if kind == "bce":  # -log D(x) - log(1 - D(G(z)))
        return {"real": F.softplus(-real).mean(), "fake": F.softplus(fake).mean()}
    if kind == "hinge":
        return {"real": F.relu(1 - real).mean(), "fake": F.relu(1 + fake).mean()}
    return {"critic": fake.mean() - real.mean()}  # minus the Wasserstein estimate


def generator_term(kind: AdversarialLoss, fake: Tensor) -> Tensor:
    """The generator's loss from the discriminator's scores on its images (non-saturating for bce)."""
    return F.softplus(-fake).mean() if kind == "bce" else -fake.mean()


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad critic(x_hat)|| - 1)^2] on random interpolates
    x_hat = a * real + (1 - a) * fake, with a ~ U(0, 1) drawn per sample."""
    alpha = torch.rand(len(real), *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()


def r1_penalty(scores: Tensor, real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real images; `real` must require grad."""
    (grad,) = torch.autograd.grad(scores.sum(), real, create_graph=True)
    return grad.flatten(1).square().sum(1).mean()


def lecam(real: Tensor, fake: Tensor, anchor_real: Tensor, anchor_fake: Tensor) -> Tensor:
    """LeCam regulariser (Tseng et al. 2021): E[(D(x) - a_fake)^2] + E[(D(G(z)) - a_real)^2], with a_real and
    a_fake moving averages of the critic's scores on real and generated images."""
    return (real - anchor_fake).square().mean() + (fake - anchor_real).square().mean()


MARGINS = {"bce": math.log(9), "hinge": 1.0}  # scores beyond +-m cost the critic (almost) nothing: sigmoid(ln 9) = 0.9


def saturation(kind: AdversarialLoss, real: Tensor, fake: Tensor) -> Tensor | None:
    """The share of images the critic scores past its loss's margin, real above +m and generated below -m
    (for bce: D(x) > 0.9 and D(G(z)) < 0.1): near 1, the critic's loss is about 0 and it has won. None for
    wasserstein, whose critic is meant to separate the two without bound."""
    if kind not in MARGINS:
        return None
    m = MARGINS[kind]
    return ((real > m).float().mean() + (fake < -m).float().mean()) / 2


def realness_sign(kind: AdversarialLoss, real: Tensor, fake: Tensor) -> Tensor:
    """sign(D(x) - c) per real image, ADA's overfitting signal: c = 0, the decision boundary, for bce and
    hinge; for wasserstein, whose scores have no fixed zero, the batch's mean score on generated images."""
    centre = fake.mean() if kind == "wasserstein" else 0.0
    return torch.sign(real - centre)
