"""L-inf attacks and adversarial training: one implementation serves training (fit) and evaluation (robustness).

Budgets and step sizes are in [0, 1] pixel units (eps = 8/255 moves each pixel by at most 8 grey levels); models
see images in [-1, 1], so both are doubled here, and attacked images stay in range.

Training objectives are small callables with one signature, registered by name (`--adversarial`):
    none    standard training
    fgsm    FGSM with a random start, step 1.25 eps ("fast AT", Wong et al. 2020)
    pgd     PGD-k from a random start (Madry et al. 2018)
    trades  clean cross-entropy + beta * KL(clean || adversarial), the attack maximising the KL (Zhang et al. 2019)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.classify.config import AdversarialConfig
from deepgen.registry import lookup

Loss = Callable[[Tensor], Tensor]  # logits (N, K) -> per-image loss to maximise (N,)
Supervised = Callable[[Tensor], tuple[Tensor, Tensor]]  # images -> (training loss, their logits)


def cross_entropy(target: Tensor) -> Loss:
    """Cross-entropy with labels (N,) or class probabilities (N, K)."""
    return lambda logits: F.cross_entropy(logits, target, reduction="none")


def margin(labels: Tensor) -> Loss:
    """The Carlini-Wagner margin: the largest other logit minus the true class's (positive when fooled)."""

    def loss(logits: Tensor) -> Tensor:
        true = logits.gather(1, labels[:, None]).squeeze(1)
        return logits.scatter(1, labels[:, None], -torch.inf).amax(1) - true

    return loss


LOSSES: dict[str, Callable[[Tensor], Loss]] = {"ce": cross_entropy, "margin": margin}


def ascend(
    model: nn.Module, x: Tensor, loss: Loss, eps: float, steps: int, step_size: float, start: str = "uniform"
) -> Tensor:
    """`steps` signed-gradient ascent steps on `loss` from x (+ a random start), projected onto the L-inf ball
    of radius eps around x and onto [-1, 1]. `start`: uniform in the ball, small (Gaussian, std 0.001) or none."""
    radius, step = 2 * eps, 2 * step_size
    adv = x.detach().clone()
    if start == "uniform":
        adv = (adv + torch.empty_like(adv).uniform_(-radius, radius)).clamp(-1, 1)
    elif start == "small":
        adv = (adv + 0.002 * torch.randn_like(adv)).clamp(-1, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(loss(model(adv)).sum(), adv)
        adv = torch.min(torch.max(adv.detach() + step * grad.sign(), x - radius), x + radius).clamp(-1, 1)
    return adv.detach()


def pgd(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 10, step_size: float | None = None,
    random_start: bool = True, restarts: int = 1, loss: str = "ce",
) -> Tensor:  # fmt: skip
    """PGD (Madry et al. 2018) on labels `y`, step eps/4 unless given; with several `restarts`, each image keeps
    the first attempt that fools the model (else the last)."""
    step = eps / 4 if step_size is None else step_size
    objective = LOSSES[loss](y)
    best = ascend(model, x, objective, eps, steps, step, "uniform" if random_start else "none")
    for _ in range(restarts - 1):
        with torch.no_grad():
            fooled = model(best).argmax(1) != y
        if fooled.all():
            break
        trial = ascend(model, x, objective, eps, steps, step)
        best = torch.where(fooled.view(-1, 1, 1, 1), best, trial)
    return best


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): one step of size eps from x."""
    return pgd(model, x, y, eps, steps=1, step_size=eps, random_start=False)


Objective = Callable[[nn.Module, Tensor, Tensor, Supervised, AdversarialConfig], Tensor]
OBJECTIVES: dict[str, Objective] = {}


def objective(name: str) -> Callable[[Objective], Objective]:
    def add(fn: Objective) -> Objective:
        OBJECTIVES[name] = fn
        return fn

    return add


def get_objective(name: str) -> Objective:
    return lookup("--adversarial", name, OBJECTIVES)


@objective("none")
def standard(model: nn.Module, x: Tensor, target: Tensor, supervised: Supervised, cfg: AdversarialConfig) -> Tensor:
    return supervised(x)[0]


@objective("fgsm")
def fast(model: nn.Module, x: Tensor, target: Tensor, supervised: Supervised, cfg: AdversarialConfig) -> Tensor:
    step = 1.25 * cfg.eps if cfg.step_size is None else cfg.step_size
    return supervised(ascend(model, x, cross_entropy(target), cfg.eps, 1, step))[0]


@objective("pgd")
def madry(model: nn.Module, x: Tensor, target: Tensor, supervised: Supervised, cfg: AdversarialConfig) -> Tensor:
    step = 2.5 * cfg.eps / cfg.steps if cfg.step_size is None else cfg.step_size
    return supervised(ascend(model, x, cross_entropy(target), cfg.eps, cfg.steps, step))[0]


@objective("trades")
def trades(model: nn.Module, x: Tensor, target: Tensor, supervised: Supervised, cfg: AdversarialConfig) -> Tensor:
    loss, logits = supervised(x)
    clean = logits.detach().softmax(1)

    def divergence(adv_logits: Tensor) -> Tensor:
        return F.kl_div(adv_logits.log_softmax(1), clean, reduction="none").sum(1)

    step = 2.5 * cfg.eps / cfg.steps if cfg.step_size is None else cfg.step_size
    adv = ascend(model, x, divergence, cfg.eps, cfg.steps, step, start="small")
    robust = F.kl_div(model(adv).log_softmax(1), logits.softmax(1), reduction="batchmean")
    return loss + cfg.beta * robust
