"""How a classifier is trained (deepgen.classify.fit) and attacked in adversarial training
(deepgen.classify.adversarial): plain dataclasses, importable without torch, so that `deepgen augment --help`
starts at once."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AdversarialConfig:
    """What adversarial training uses: the budget `eps`, the step size (default: 1.25 eps for fgsm, 2.5 eps / steps
    for pgd and trades), the steps (pgd, trades) and TRADES' beta."""

    eps: float = 0.1
    step_size: float | None = None
    steps: int = 7
    beta: float = 6.0


@dataclass
class FitConfig:
    max_steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    eval_every: int = 50
    patience: int = 6  # evaluations without a better validation accuracy before stopping
    pretrain_steps: int = 500  # unsupervised pretraining of classifiers that declare it (the stacked autoencoder)
    cosine: bool = False  # decay the learning rate to 0 over max_steps (cosine)
    outlier_weight: float = 0.0  # outlier exposure (see `outliers`); 0 is off
    balance: bool = False  # weight each image's loss by the inverse frequency of its class
    mix: str = "none"  # mixup or cutmix of every batch (none: off)
    mix_alpha: float = 1.0  # mixup/CutMix share ~ Beta(alpha, alpha)
    adversarial: str = "none"  # training objective: none, fgsm (fast AT), pgd, trades (see classify/adversarial.py)
    attack: AdversarialConfig = field(default_factory=AdversarialConfig)  # eps, step size, steps, TRADES' beta
    # keep the weights of the best validation accuracy (clean) or, for adversarial training, the best validation
    # robust accuracy (robust: PGD of select_steps at the training eps on the first select_images; Rice et al. 2020)
    select: str = "clean"
    select_steps: int = 10
    select_images: int = 500
