"""The adversarial step shared by every GAN variant; variants differ only in networks and defaults.

A training step is the discriminator (critic) phase, repeated `critic_steps` times on fresh real
batches, then one generator phase. The variants choose a loss (non-saturating BCE, hinge,
Wasserstein), a regulariser (none, gradient penalty, weight clipping; optionally R1), learning
rates and betas per network (TTUR), the noise distribution and class conditioning.

Against scarce data every image the critic sees, real or generated, in both phases, can pass through
differentiable augmentation (`deepgen.nn.diffaugment`): always (DiffAugment) or with a probability p that
follows the critic's overfitting signal r = E[sign(D(x))] towards a target (ADA). p and the running signal
are buffers, saved with the weights. The LeCam regulariser anchors the critic's scores to moving averages of
its scores on the other kind of image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from deepgen.config import auto, opt
from deepgen.data.loader import Batch
from deepgen.errors import ConfigError
from deepgen.losses import (
    AdversarialLoss,
    critic_terms,
    generator_term,
    gradient_penalty,
    lecam,
    r1_penalty,
    realness_sign,
    saturation,
)
from deepgen.models.base import GenerativeModel, Phase, StepLoss, adam
from deepgen.models.sizing import DEFAULT_STEPS, AutoSized, Sizing, default_batch, pow2
from deepgen.nn.conditioning import Critic, Generator
from deepgen.nn.diffaugment import OPS, diff_augment

Noise = Literal["normal", "uniform", "poisson"]
Augment = Literal["off", "fixed", "adaptive"]
SCARCE_PER_CLASS = 100  # below this many training images per class the critic sees augmented images (see `sized`)
SCARCE_OPS = ("translation", "color")
SCARCE_STEPS = 3000  # training steps on such scarce data


@dataclass
class AdversarialConfig(AutoSized):
    noise: Noise = opt("normal", "noise distribution: normal N(0, 1), uniform U(-1, 1) or poisson Poisson(1)")
    noise_dim: int | None = auto("size of the noise vector", ge=1)
    conditional: bool = opt(False, "condition generator and discriminator on the class label")
    loss: AdversarialLoss = opt("bce", "adversarial loss: bce (non-saturating), hinge or wasserstein")
    regularizer: Literal["none", "gp", "clip"] = opt("none", "critic regulariser: none, gp (gradient penalty), clip")
    gp_lambda: float = opt(10.0, "weight of the gradient penalty", ge=0)
    clip_value: float = opt(0.01, "critic weights are clipped to [-c, c] (regularizer=clip)", gt=0)
    r1_gamma: float = opt(0.0, "R1 penalty weight on real images (0 = off)", ge=0)
    r1_interval: int = opt(
        1,
        "lazy R1: the penalty gets a critic step of its own every N steps, weighted by N, and the critic's Adam "
        "lr and betas are scaled by N / (N + 1) (StyleGAN2); 1: R1 is part of every critic step",
        ge=1,
    )
    drift: float = opt(
        0.0, "weight of the drift penalty E[D(x)^2] that keeps critic scores near 0 (ProGAN: 0.001)", ge=0
    )
    critic_steps: int | None = auto("discriminator updates per generator update", ge=1)
    optimizer: Literal["adam", "rmsprop"] = opt("adam", "optimizer of both networks")
    lr_g: float | None = auto("generator learning rate", gt=0)
    lr_d: float | None = auto("discriminator learning rate", gt=0)
    betas_g: list[float] = opt([0.5, 0.999], "generator Adam betas", ge=0, lt=1, size=2)
    betas_d: list[float] = opt([0.5, 0.999], "discriminator Adam betas", ge=0, lt=1, size=2)
    ema_decay: float | None = auto(
        "keep an exponential moving average of the generator and sample from it (0 = off)", ge=0, lt=1
    )
    augment: Augment | None = auto(
        "differentiable augmentation of every image the critic sees: off, fixed (always applied, DiffAugment) "
        "or adaptive (applied with a probability p that rises while the critic overfits, ADA); auto: fixed below "
        f"{SCARCE_PER_CLASS} training images per class, else off"
    )
    augment_ops: list[str] | None = auto(
        f"augmentations: {', '.join(OPS)} (auto: {' '.join(SCARCE_OPS)} below {SCARCE_PER_CLASS} images per class, "
        "else all)",
        choices=tuple(OPS),
    )
    ada_target: float = opt(
        0.6, "adaptive augmentation: p rises while r = E[sign(D(real))] is above this target", ge=-1, le=1
    )
    ada_interval: int = opt(4, "adaptive augmentation: steps between adjustments of p", ge=1)
    ada_images: int = opt(20000, "adaptive augmentation: real images shown while p can move from 0 to 1", ge=1)
    lecam: float = opt(0.0, "weight of the LeCam regulariser of the critic (Tseng et al. 2021; 0 = off)", ge=0)
    lecam_decay: float = opt(0.99, "decay of the moving averages of critic scores that LeCam anchors to", ge=0, lt=1)

    def sized(self, s: Sizing, batch_size: int | None) -> dict[str, Any]:
        """Noise of about one dimension per 12 pixel values (32 to 128); one critic step, or for a Wasserstein
        critic 5 on a GPU (the papers') and 2 on a CPU (twice the generator steps in a time budget); learning
        rates 2e-4 (the DCGAN paper's), but for RMSprop on a GPU the WGAN paper's 5e-5 (on a CPU 2e-4 trained
        far faster: WGAN on mnist10k after 75 s, FID 11.4 against 82 with 5e-5); no moving
        average of the generator: averaging a BatchNorm generator's weights blurs its samples in short runs
        (a DCGAN after 348 steps on mnist10k: FID 121 from the average, 10.6 from the generator itself).
        On scarce data (below SCARCE_PER_CLASS training images per class) the critic memorises the images: the
        critic sees them through fixed differentiable augmentation (translation, colour) and training runs
        SCARCE_STEPS steps, as measured on mnist10k at 10 images per class (conditional DCGAN, 3 seeds, 3000 steps:
        FID 17.5 without, 1.9 with; see the README's "Scarce data"); on all 8,000 images it was not needed."""
        lr = 5e-5 if self.optimizer == "rmsprop" and s.gpu else 2e-4
        scarce = s.per_class is not None and s.per_class < SCARCE_PER_CLASS
        return {
            "batch_size": batch_size or default_batch(s),
            "steps": SCARCE_STEPS if scarce else DEFAULT_STEPS,
            "augment": "fixed" if scarce else "off",
            "augment_ops": list(SCARCE_OPS if scarce else OPS),
            "noise_dim": pow2(s.pixels / 12, 32, 128),
            "critic_steps": (5 if s.gpu else 2) if self.loss == "wasserstein" else 1,
            "lr_g": lr,
            "lr_d": lr,
            "ema_decay": 0.0,
        }


class AdversarialModel(GenerativeModel):
    """A generator and a critic trained against each other; subclasses build the two networks."""

    can_condition = True

    def __init__(self, config: AdversarialConfig, shape: tuple[int, int, int], classes: list[str]):
        super().__init__(config, shape, classes)
        config = self.config
        k = len(classes) if config.conditional else 0
        self.generator = Generator(self.generator_body(config.noise_dim + k), k)
        features, feature_dim = self.critic_features()
        self.discriminator = Critic(features, feature_dim, k, self.critic_head(feature_dim))
        if config.regularizer == "gp" and any(isinstance(m, nn.BatchNorm2d) for m in self.discriminator.modules()):
            raise ConfigError(
                "the gradient penalty needs a critic without BatchNorm (it couples the samples of a batch); "
                "use --d-norm layer or --d-norm none"
            )
        self.ema = None
        if config.ema_decay > 0:
            self.ema = AveragedModel(self.generator, multi_avg_fn=self.ema_average(), use_buffers=True)
            self.ema.requires_grad_(False)
        if config.augment == "adaptive":
            for name in ("ada_p", "ada_signs", "ada_count", "ada_steps"):  # signs and counts since the last update
                self.register_buffer(name, torch.zeros(()))
            self.realness = torch.zeros(2)  # this step's (sum of signs, count), not yet in the buffers
        if config.lecam > 0:
            self.register_buffer("lecam_real", torch.zeros(()))
            self.register_buffer("lecam_fake", torch.zeros(()))
        self.register_load_state_dict_pre_hook(AdversarialModel.start_fresh_statistics)

    def start_fresh_statistics(self, state: dict, prefix: str, *args: object) -> None:
        """Runs saved before adaptive augmentation and LeCam existed load with p and the score averages at 0."""
        for name in ("ada_p", "ada_signs", "ada_count", "ada_steps", "lecam_real", "lecam_fake"):
            if hasattr(self, name) and prefix + name not in state:
                state[prefix + name] = torch.zeros(())

    def ema_average(self) -> Callable[[list[Tensor], list[Tensor], Tensor], None]:
        """How the moving average of the generator takes in its current weights: a fixed decay `ema_decay`."""
        return get_ema_multi_avg_fn(self.config.ema_decay)

    def generator_body(self, in_dim: int) -> nn.Module:
        """Maps (noise [+ one-hot class]) of size `in_dim` to images in [-1, 1]."""
        raise NotImplementedError

    def critic_features(self) -> tuple[nn.Module, int]:
        """The critic's body (images -> feature vectors) and the feature size."""
        raise NotImplementedError

    def compile_targets(self) -> list[nn.Module]:
        """The generator; the critic too unless a gradient penalty differentiates it twice."""
        twice = self.config.regularizer == "gp" or self.config.r1_gamma > 0
        return [self.generator] if twice else [self.generator, self.discriminator]

    def critic_head(self, feature_dim: int) -> nn.Module:
        """The critic's score layer on its feature vector."""
        return nn.Linear(feature_dim, 1)

    @property
    def lazy_r1(self) -> bool:
        """R1 has a critic phase of its own, every `r1_interval` steps."""
        return self.config.r1_gamma > 0 and self.config.r1_interval > 1

    def phases(self) -> list[Phase]:
        """The critic's phase (and its lazy R1 phase, with the same optimizer), then the generator's."""
        c = self.config
        critic = self.optimizer(self.discriminator, c.lr_d, c.betas_d, c.r1_interval if self.lazy_r1 else 1)
        lazy = [Phase("Dreg", critic, every=c.r1_interval)] if self.lazy_r1 else []
        return [
            Phase("D", critic, repeat=c.critic_steps),
            *lazy,
            Phase("G", self.optimizer(self.generator, c.lr_g, c.betas_g)),
        ]

    def optimizer(self, net: nn.Module, lr: float, betas: list[float], interval: int = 1) -> torch.optim.Optimizer:
        """The network's optimizer; with a lazy regulariser every `interval` steps, Adam's lr and betas are raised
        to the power r = interval / (interval + 1) (lr times r), as StyleGAN2 does to keep their effective scale."""
        r = interval / (interval + 1)
        if self.config.optimizer == "rmsprop":
            return torch.optim.RMSprop(net.parameters(), lr=lr * r)
        return adam(net.parameters(), lr * r, [b**r for b in betas])

    def prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Noise of the configured distribution; on the model's device, or drawn on the CPU from `generator`."""
        device = "cpu" if generator is not None else self.device
        shape = (n, self.config.noise_dim)
        if self.config.noise == "uniform":
            z = torch.rand(shape, generator=generator, device=device) * 2 - 1
        elif self.config.noise == "poisson":
            z = torch.poisson(torch.ones(shape, device=device), generator=generator)
        else:
            z = torch.randn(shape, generator=generator, device=device)
        return z.to(self.device)

    def augment(self, x: Tensor) -> Tensor:
        """What the critic sees of the images `x`: them, or their differentiable augmentation."""
        c = self.config
        if c.augment == "off":
            return x
        return diff_augment(x, c.augment_ops, self.ada_p if c.augment == "adaptive" else 1.0)

    def loss(self, phase: str, batch: Batch) -> StepLoss:
        c = self.config
        labels = batch.y if self.conditional else None
        if phase == "Dreg":
            real = batch.x.detach().requires_grad_(True)
            scores = self.discriminator(self.augment(real), labels)
            return StepLoss({"r1": c.r1_gamma / 2 * c.r1_interval * r1_penalty(scores, real)})
        z = self.prior(len(batch.x))
        if phase == "G":
            scores = self.discriminator(self.augment(self.generator(z, labels)), labels)
            return StepLoss({"adv": generator_term(c.loss, scores)})
        with torch.no_grad():
            fake = self.augment(self.generator(z, labels))
        eager_r1 = c.r1_gamma > 0 and not self.lazy_r1
        real = batch.x.requires_grad_(eager_r1)
        seen = self.augment(real)
        real_scores, fake_scores = self.discriminator(seen, labels), self.discriminator(fake, labels)
        terms = critic_terms(c.loss, real_scores, fake_scores)
        if c.regularizer == "gp":
            terms["gp"] = c.gp_lambda * gradient_penalty(lambda x: self.discriminator(x, labels), seen, fake)
        if eager_r1:
            terms["r1"] = c.r1_gamma / 2 * r1_penalty(real_scores, real)
        if c.drift > 0:
            terms["drift"] = c.drift * real_scores.square().mean()
        if c.lecam > 0:
            terms["lecam"] = c.lecam * self.lecam_term(real_scores, fake_scores)
        real_scores, fake_scores = real_scores.detach(), fake_scores.detach()
        signs = realness_sign(c.loss, real_scores, fake_scores).float()
        stats = {"r_sign": signs.mean()}
        saturated = saturation(c.loss, real_scores, fake_scores)
        if saturated is not None:
            stats["saturation"] = saturated
        if c.augment == "adaptive":
            self.realness = self.realness.to(signs.device) + torch.stack([signs.sum(), torch.ones_like(signs).sum()])
            stats["ada_p"] = self.ada_p.clone()
        if c.loss == "bce":  # report D(x) and D(G(z)) as probabilities
            real_scores, fake_scores = real_scores.sigmoid(), fake_scores.sigmoid()
        stats |= {"d_real": real_scores.mean(), "d_fake": fake_scores.mean()}
        if c.loss == "wasserstein":
            stats["w_estimate"] = stats["d_real"] - stats["d_fake"]
        return StepLoss(terms, stats)

    def lecam_term(self, real: Tensor, fake: Tensor) -> Tensor:
        """The LeCam regulariser on these scores, after moving the score averages towards them."""
        with torch.no_grad():
            self.lecam_real.lerp_(real.mean().float(), 1 - self.config.lecam_decay)
            self.lecam_fake.lerp_(fake.mean().float(), 1 - self.config.lecam_decay)
        return lecam(real, fake, self.lecam_real, self.lecam_fake)

    @torch.no_grad()
    def adapt(self) -> None:
        """Add this step's realness signs to the running sums; every `ada_interval` steps move p by
        sign(r - target) * images / ada_images (clamped to [0, 1]) and restart the sums. No host sync."""
        c, pending = self.config, self.realness.to(self.ada_p.device)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(pending)
        self.ada_signs += pending[0]
        self.ada_count += pending[1]
        self.ada_steps += 1
        self.realness = torch.zeros_like(pending)
        due = self.ada_steps >= c.ada_interval
        r = self.ada_signs / self.ada_count.clamp_min(1)
        moved = (self.ada_p + torch.sign(r - c.ada_target) * self.ada_count / c.ada_images).clamp(0, 1)
        self.ada_p.copy_(torch.where(due, moved, self.ada_p))
        for running in (self.ada_signs, self.ada_count, self.ada_steps):
            running.masked_fill_(due, 0)

    @torch.no_grad()
    def after_step(self, phase: str) -> None:
        if phase == "D" and self.config.regularizer == "clip":
            for p in self.discriminator.parameters():
                p.clamp_(-self.config.clip_value, self.config.clip_value)
        if phase == "G" and self.ema is not None:
            self.ema.update_parameters(self.generator)
        if phase == "G" and self.config.augment == "adaptive":
            self.adapt()

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Images from the EMA generator when there is one."""
        return (self.ema.module if self.ema is not None else self.generator)(z, labels)
