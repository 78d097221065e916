"""L-inf attacks and adversarial training: one implementation serves training (fit) and evaluation (robustness).

Budgets and step sizes are in [0, 1] pixel units (eps = 8/255 moves each pixel by at most 8 grey levels); models
see images in [-1, 1], so both are doubled here, and attacked images stay in range. AutoAttack and its APGD pair
(evaluation only) come from adversarial-robustness-toolbox (ART, the `robust` extra): see `autoattack`.

Training objectives are small callables with one signature, registered by name (`--adversarial`):
    none    standard training
    fgsm    FGSM with a random start, step 1.25 eps ("fast AT", Wong et al. 2020)
    pgd     PGD-k from a random start (Madry et al. 2018)
    trades  clean cross-entropy + beta * KL(clean || adversarial), the attack maximising the KL (Zhang et al. 2019)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.classify.config import AdversarialConfig
from deepgen.errors import ConfigError
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


LIBRARY = {
    "autoattack": "AutoAttack through ART: APGD-CE, APGD-T (targeted DLR, up to 9 targets), Square (5000 queries); "
    "no FAB-T (ART has none)",
    "apgd": "APGD-CE + APGD-T through ART (100 steps each, up to 9 targets)",
}


def autoattack(model: nn.Module, x: Tensor, y: Tensor, eps: float, version: str = "autoattack") -> Tensor:
    """AutoAttack (Croce & Hein 2020) from adversarial-robustness-toolbox (ART) on images `x` in [-1, 1] with labels
    `y`: each attack runs on the images the ones before it left unfooled (ART's own `run_attack`), as AutoAttack does.

    ART attacks the model's own inputs, so its clip values are (-1, 1) and its L-inf budget is 2 * eps (eps in [0, 1]
    pixel units, as everywhere here); APGD's first step is twice the budget (AutoAttack's). `version` "autoattack":
    the standard version's APGD-CE (100 steps), APGD-T (targeted DLR, 100 steps, against each of the 9 classes the
    clean image scores highest after its own) and Square (5000 queries) — FAB-T is left out: ART 1.20 has no FAB;
    "apgd": APGD-CE and APGD-T only. APGD-T needs 3 classes or more (DLR's denominator); with 2 it is skipped.
    Seeded (numpy's global state is restored afterwards)."""
    try:
        from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack
        from art.attacks.evasion.auto_attack import run_attack
        from art.estimators.classification import PyTorchClassifier
    except ImportError as e:
        raise ConfigError(
            f"--attack {version} uses adversarial-robustness-toolbox: pip install 'deepgen[robust]'"
        ) from e
    device, training = x.device, model.training
    with torch.no_grad():
        logits = model(x)
    classes = logits.shape[1]
    estimator = PyTorchClassifier(
        model, nn.CrossEntropyLoss(), tuple(x.shape[1:]), classes, clip_values=(-1.0, 1.0),
        device_type="gpu" if device.type == "cuda" else "cpu",
    )  # fmt: skip
    radius = 2 * eps
    common = dict(norm=np.inf, eps=radius, eps_step=2 * radius, max_iter=100, nb_random_init=1, batch_size=len(x))
    state = np.random.get_state()
    np.random.seed(0)
    try:
        adv, truth = x.detach().cpu().numpy().copy(), F.one_hot(y, classes).cpu().numpy()
        robust = (logits.argmax(1) == y).cpu().numpy()
        ce = AutoProjectedGradientDescent(estimator, loss_type="cross_entropy", verbose=False, **common)
        adv, robust = run_attack(adv, truth, robust, ce, estimator, np.inf, radius)
        if classes >= 3:
            targeted = AutoProjectedGradientDescent(
                estimator, loss_type="difference_logits_ratio", targeted=True, verbose=False, **common
            )
            ranked = logits.scatter(1, y[:, None], -torch.inf).argsort(1, descending=True)
            for k in range(min(9, classes - 1)):
                if not robust.any():
                    break
                target = F.one_hot(ranked[:, k], classes).cpu().numpy()
                adv, robust = run_attack(adv, target, robust, targeted, estimator, np.inf, radius)
        if version == "autoattack" and robust.any():
            square = SquareAttack(estimator, norm=np.inf, max_iter=5000, eps=radius, p_init=0.8, verbose=False)
            adv, robust = run_attack(adv, truth, robust, square, estimator, np.inf, radius)
    finally:
        np.random.set_state(state)
        model.to(device).train(training)
    return torch.from_numpy(adv).to(device).clamp(-1, 1)


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
