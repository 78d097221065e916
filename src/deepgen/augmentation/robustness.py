"""Accuracy under adversarial attacks (FGSM, PGD) and common corruptions (Gaussian noise, blur).

Budgets are in [0, 1] pixel units (eps = 8/255 moves each pixel by at most 8 grey levels); images stay
in range.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF

from deepgen.data.imageset import to_float


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015) on images in [-1, 1]."""
    return pgd(model, x, y, eps, steps=1, step_size=eps, random_start=False)


def pgd(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 10, step_size: float | None = None,
    random_start: bool = True,
) -> Tensor:  # fmt: skip
    """Projected gradient descent in the L-inf ball of radius eps (Madry et al. 2018)."""
    radius, step = 2 * eps, 2 * (step_size if step_size is not None else eps / 4)  # [0, 1] units -> [-1, 1]
    adv = x.clone()
    if random_start:
        adv = (adv + torch.empty_like(x).uniform_(-radius, radius)).clamp(-1, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(adv), y), adv)
        adv = torch.min(torch.max(adv.detach() + step * grad.sign(), x - radius), x + radius).clamp(-1, 1)
    return adv.detach()


def corrupt(x: Tensor, kind: str, level: float, generator: torch.Generator) -> Tensor:
    """Gaussian noise of std `level` or Gaussian blur of sigma `level` (pixels), on images in [-1, 1]."""
    if kind == "noise":
        return (x + 2 * level * torch.randn(x.shape, generator=generator).to(x.device)).clamp(-1, 1)
    radius = max(1, int(3 * level + 0.5))
    return TF.gaussian_blur(x, [2 * radius + 1] * 2, [level, level])


def robust_accuracy(
    model: nn.Module, images: Tensor, labels: Tensor, device: torch.device, eps: list[float],
    noise: list[float], blur: list[float], batch_size: int = 500,
) -> dict[str, float]:  # fmt: skip
    """Accuracy on uint8 `images` under each attack budget and corruption level, keyed like "pgd@0.1"."""
    model.eval()
    g = torch.Generator().manual_seed(0)
    settings = [("fgsm", e) for e in eps] + [("pgd", e) for e in eps]
    settings += [("noise", s) for s in noise] + [("blur", s) for s in blur]
    correct = dict.fromkeys((f"{kind}@{level:g}" for kind, level in settings), 0)
    for chunk, y in zip(images.split(batch_size), labels.split(batch_size)):
        x, y = to_float(chunk.to(device)), y.to(device)
        for kind, level in settings:
            changed = perturb(model, x, y, kind, level, g)
            with torch.no_grad():
                correct[f"{kind}@{level:g}"] += (model(changed).argmax(1) == y).sum().item()
    return {name: hits / len(images) for name, hits in correct.items()}


def perturb(model: nn.Module, x: Tensor, y: Tensor, kind: str, level: float, generator: torch.Generator) -> Tensor:
    if kind == "fgsm":
        return fgsm(model, x, y, level)
    if kind == "pgd":
        return pgd(model, x, y, level)
    return corrupt(x, kind, level, generator)
