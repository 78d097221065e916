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

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from deepgen.data.loader import Batch
from deepgen.errors import ConfigError
from deepgen.losses import (
    critic_terms,
    generator_term,
    gradient_penalty,
    lecam,
    r1_penalty,
    realness_sign,
    saturation,
)
from deepgen.models.base import GenerativeModel, Phase, StepLoss, adam
from deepgen.models.configs.adversarial import AdversarialConfig
from deepgen.nn.conditioning import Critic, Generator
from deepgen.nn.diffaugment import diff_augment


class AdversarialModel(GenerativeModel):
    """A generator and a critic trained against each other; subclasses build the two networks."""

    can_condition = True

    def __init__(self, config: AdversarialConfig, shape: tuple[int, int, int], classes: list[str]):
        super().__init__(config, shape, classes)
        config = self.config
        k = len(classes) if config.conditional else 0
        self.generator = Generator(self.generator_body(config.noise_dim + k), k)
        features, feature_dim = self.critic_features()
        head, gain = self.critic_head(feature_dim), self.projection_gain(feature_dim)
        self.discriminator = Critic(features, feature_dim, k, head, gain)
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

    def projection_gain(self, feature_dim: int) -> float:
        """The weight of the class projection in the critic's score (1: Miyato & Koyama's)."""
        return 1.0

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
