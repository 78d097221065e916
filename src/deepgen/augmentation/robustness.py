"""Accuracy under adversarial attacks (FGSM, PGD: the attacks of classify/adversarial.py, which adversarial training
uses too; AutoAttack or its APGD pair beside PGD, through adversarial-robustness-toolbox) and common corruptions
(Gaussian noise, blur).

Budgets are in [0, 1] pixel units (eps = 8/255 moves each pixel by at most 8 grey levels); images stay
in range.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF

from deepgen.classify.adversarial import LIBRARY, autoattack, fgsm, pgd
from deepgen.data.imageset import to_float


@dataclass(frozen=True)
class Attack:
    """The evaluation's PGD: `steps` steps of eps/4 from a random start, `restarts` tries (each image keeps the first
    that fools the model), on the cross-entropy or the Carlini-Wagner `loss` (margin); with `kind` autoattack or
    apgd, that attack too (its own column beside PGD's, e.g. "autoattack@0.1")."""

    steps: int = 10
    restarts: int = 1
    loss: str = "ce"
    kind: str = "pgd"

    def __str__(self) -> str:
        tries = f", {self.restarts} restarts" if self.restarts > 1 else ""
        extra = f"; {self.kind}: {LIBRARY[self.kind]}" if self.kind in LIBRARY else ""
        pgd = f"L-inf PGD-{self.steps} ({self.loss} loss, step eps/4, random start{tries})"
        return f"{pgd}; FGSM one step of eps{extra}"

    @property
    def kinds(self) -> list[str]:
        """The attacks of each budget, as their columns name them."""
        return ["fgsm", "pgd"] + ([self.kind] if self.kind in LIBRARY else [])


def corrupt(x: Tensor, kind: str, level: float, generator: torch.Generator) -> Tensor:
    """Gaussian noise of std `level` or Gaussian blur of sigma `level` (pixels), on images in [-1, 1]."""
    if kind == "noise":
        return (x + 2 * level * torch.randn(x.shape, generator=generator).to(x.device)).clamp(-1, 1)
    radius = max(1, int(3 * level + 0.5))
    return TF.gaussian_blur(x, [2 * radius + 1] * 2, [level, level])


def robust_accuracy(
    model: nn.Module, images: Tensor, labels: Tensor, device: torch.device, eps: list[float],
    noise: list[float], blur: list[float], batch_size: int = 500, attack: Attack = Attack(),
) -> dict[str, float]:  # fmt: skip
    """Accuracy on uint8 `images` under each attack budget (PGD: `attack`) and corruption level, keyed like
    "pgd@0.1"."""
    return {name: int(right.sum()) / len(images) for name, right in robust_answers(
        model, images, labels, device, eps, noise, blur, batch_size, attack
    ).items()}  # fmt: skip


def column_settings(
    attack: Attack, eps: list[float], noise: list[float], blur: list[float]
) -> dict[str, tuple[str, float]]:
    """Every attack budget and corruption level scored, by the robust column it fills ("pgd@0.1": ("pgd", 0.1))."""
    found = [(kind, e) for kind in attack.kinds for e in eps] + [("noise", s) for s in noise]
    return {f"{kind}@{level:g}": (kind, level) for kind, level in found + [("blur", s) for s in blur]}


def robust_answers(
    model: nn.Module, images: Tensor, labels: Tensor, device: torch.device, eps: list[float],
    noise: list[float], blur: list[float], batch_size: int = 500, attack: Attack = Attack(),
) -> dict[str, Tensor]:  # fmt: skip
    """Whether the model gets each of the uint8 `images` right under each attack budget and corruption level (a bool
    tensor per setting, keyed like "pgd@0.1")."""
    model.eval()
    g = torch.Generator().manual_seed(0)
    chosen = column_settings(attack, eps, noise, blur)
    right: dict[str, list[Tensor]] = {key: [] for key in chosen}
    for chunk, y in zip(images.split(batch_size), labels.split(batch_size)):
        x, y = to_float(chunk.to(device)), y.to(device)
        for key, (kind, level) in chosen.items():
            changed = perturb(model, x, y, kind, level, g, attack)
            with torch.no_grad():
                right[key].append((model(changed).argmax(1) == y).cpu())
    return {name: torch.cat(parts) if parts else torch.zeros(0, dtype=torch.bool) for name, parts in right.items()}


def perturb(
    model: nn.Module, x: Tensor, y: Tensor, kind: str, level: float, generator: torch.Generator, attack: Attack
) -> Tensor:
    if kind == "fgsm":
        return fgsm(model, x, y, level)
    if kind == "pgd":
        return pgd(model, x, y, level, attack.steps, restarts=attack.restarts, loss=attack.loss)
    if kind in LIBRARY:
        return autoattack(model, x, y, level, kind)
    return corrupt(x, kind, level, generator)
