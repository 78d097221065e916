"""StyleGAN2 (Karras et al. 2020) with adaptive augmentation (Karras et al. 2020, ADA) on the shared adversarial step.

The generator maps noise z (and the class, embedded, when conditional) to w through a mapping network; a
synthesis network grows a learned constant to the image size with convolutions modulated by w (demodulated
instead of AdaIN), per-pixel noise and RGB outputs summed over the resolutions (skip) or residual blocks. The
critic is residual, with minibatch std, and a projection of the class when conditional. Losses are the shared
step's: the non-saturating logistic loss, with R1 on real images in a critic phase of its own every
`r1_interval` steps (lazy regularisation), and `--augment adaptive` for ADA. This file adds style mixing
(in the generator), the optional path-length regulariser (a generator phase every `pl_interval` steps), the
moving average of the generator with the paper's ramp-up, truncation and style-mixing grids for sampling.

The model's codes are z: `deepgen latent` and `sample --interpolate` walk the prior, not w.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from deepgen.data.loader import Batch
from deepgen.errors import ConfigError
from deepgen.models.adversarial import AdversarialModel
from deepgen.models.base import Phase, StepLoss
from deepgen.models.configs.stylegan import StyleConfig, StyleGANConfig
from deepgen.models.sizing import resolutions
from deepgen.nn.progressive import EqualLinear
from deepgen.nn.spec import halvings
from deepgen.nn.style import MappingNetwork, ResidualCritic, StyleGenerator, SynthesisNetwork
from deepgen.registry import register


@register("stylegan", "StyleGAN2: mapping net, modulated convs, noise, skip outputs, lazy R1, EMA; ADA-ready")
class StyleGAN(AdversarialModel):
    Config = StyleGANConfig
    sampling_options = ("truncation", "mix_crossover")
    can_mix_styles = True

    def __init__(self, config: StyleConfig, shape: tuple[int, int, int], classes: list[str]):
        if halvings(shape[1])[0] == 0:
            raise ConfigError(f"stylegan needs an image size with a factor of 2 (e.g. 28, 32, 64), got {shape[1]}")
        super().__init__(config, shape, classes)
        if self.config.pl_weight > 0:
            self.register_buffer("pl_mean", torch.zeros(()))

    @property
    def channels(self) -> list[int]:
        """Feature maps at each resolution, from the smallest."""
        c = self.config
        return [max(1, min(c.channel_base // r, c.channel_max)) for r in resolutions(self.shape[1])]

    def generator_body(self, in_dim: int) -> nn.Module:
        c, k = self.config, len(self.classes) if self.conditional else 0
        mapping = MappingNetwork(c.noise_dim, c.noise_dim, k, c.mapping_layers)
        start = resolutions(self.shape[1])[0]
        synthesis = SynthesisNetwork(self.channels, self.shape[0], start, c.noise_dim, c.g_arch)
        return StyleGenerator(mapping, synthesis, c.style_mixing)

    def critic_features(self) -> tuple[nn.Module, int]:
        start = resolutions(self.shape[1])[0]
        return ResidualCritic(self.shape[0], self.channels, start, self.config.mbstd_group), self.channels[0]

    def critic_head(self, feature_dim: int) -> nn.Module:
        return EqualLinear(feature_dim, 1, gain=1.0)

    def projection_gain(self, feature_dim: int) -> float:
        """1 / sqrt(dim), as the ADA paper's critic scales its class projection: with N(0, 1) embeddings and the
        equalised critic's O(1) features the projection would outweigh the unconditional score sqrt(dim) times
        (mnist10k, 120 s on one core: FID 87.2 without the scale, 35.3 with it)."""
        return 1 / math.sqrt(feature_dim)

    def compile_targets(self) -> list[nn.Module]:
        """Neither network when the path-length regulariser differentiates the generator twice."""
        return [] if self.config.pl_weight > 0 else super().compile_targets()

    def ema_average(self) -> Callable[[list[Tensor], list[Tensor], Tensor], None]:
        """A decay of `ema_decay` per step once enough images were seen; before, a half-life of `ema_rampup`
        times the steps so far, so that short runs sample from an average of recent weights (the paper's ramp)."""
        half_life = math.log(0.5) / math.log(self.config.ema_decay)  # in steps
        rampup = self.config.ema_rampup

        def average(ema: list[Tensor], current: list[Tensor], n: Tensor) -> None:
            steps = torch.clamp(n.float() * rampup, max=half_life) if rampup > 0 else torch.tensor(half_life)
            weight = 1 - 0.5 ** (1 / steps.clamp_min(1e-8))
            for e, c in zip(ema, current):
                e.lerp_(c, weight.to(e.device, e.dtype))

        return average

    # --- training -------------------------------------------------------------------------
    def phases(self) -> list[Phase]:
        """The shared phases; with path-length regularisation a lazy generator phase after them."""
        c, phases = self.config, super().phases()
        if c.pl_weight <= 0:
            return phases
        g = self.optimizer(self.generator, c.lr_g, c.betas_g, c.pl_interval)
        return [*phases[:-1], Phase("G", g), Phase("Greg", g, every=c.pl_interval)]

    def loss(self, phase: str, batch: Batch) -> StepLoss:
        if phase != "Greg":
            return super().loss(phase, batch)
        c = self.config
        n = max(1, len(batch.x) // 2)  # the paper's halved batch for this term
        labels = batch.y[:n] if self.conditional else None
        body = self.generator.body
        ws = body.styles(self.generator.inputs(self.prior(n), labels))
        images = body.synthesis(ws)
        noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
        (grad,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
        lengths = grad.float().square().sum(2).mean(1).sqrt()
        with torch.no_grad():
            self.pl_mean.lerp_(lengths.mean(), 0.01)
        penalty = (lengths - self.pl_mean).square().mean()
        return StepLoss({"pl": c.pl_weight * c.pl_interval * penalty}, {"pl_mean": self.pl_mean.clone()})

    # --- use ------------------------------------------------------------------------------
    def sampler(self) -> nn.Module:
        """The generator that samples: the moving average when there is one."""
        return self.ema.module if self.ema is not None else self.generator

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Images from the (average) generator, w truncated by `truncation` outside training, clamped to [-1, 1]."""
        net = self.sampler()
        ws = net.body.styles(net.inputs(z, labels), self.config.truncation)
        return net.body.synthesis(ws).clamp(-1, 1)

    @torch.no_grad()
    def style_mix(self, rows: Tensor, cols: Tensor, labels: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """A (R + 1) x (C + 1) grid as (R + 1) * (C + 1) images: top row the images of the noise `cols`, left
        column those of `rows`, and inside, row i's coarse styles (the first `mix_crossover` layers, or half)
        with column j's fine ones. A blank corner. `labels`: the classes of the rows and of the columns."""
        net = self.sampler()
        psi, n = self.config.truncation, net.body.synthesis.num_ws
        cut = self.config.mix_crossover or n // 2
        if not 0 < cut < n:
            raise ConfigError(f"--mix-crossover must lie in [1, {n - 1}] for this model ({n} style layers), got {cut}")
        ya, yb = labels if labels is not None else (None, None)
        a = net.body.styles(net.inputs(rows.to(self.device), ya), psi)
        b = net.body.styles(net.inputs(cols.to(self.device), yb), psi)
        mixed = torch.cat([a[:, None, :cut].expand(-1, len(b), -1, -1), b[None, :, cut:].expand(len(a), -1, -1, -1)], 2)
        images = net.body.synthesis(torch.cat([a, b, mixed.flatten(0, 1)])).clamp(-1, 1)
        left, top, inner = images.split([len(a), len(b), len(a) * len(b)])
        corner = torch.full_like(top[:1], -1)
        inside = torch.cat([left[:, None], inner.unflatten(0, (len(a), len(b)))], 1).flatten(0, 1)
        return torch.cat([corner, top, inside])
