"""ProGAN (Karras et al. 2018): generator and critic grown from 4x4 to the image size, one resolution at a time.

Training starts at 4 px (or the smallest size the image size halves down to, e.g. 7 px for 28). Each
further resolution is faded in over `fade_images` real images (alpha ramps linearly from 0 to 1 while
the new block's output is blended with the upsampled old one), then trained stably for `stable_images`.
The schedule position, the count of real images shown to the critic, is a buffer: checkpoints carry
it, so a resumed run continues at the same resolution and alpha.

The adversarial step is the family's shared one (WGAN-GP with the drift term by default): `loss` only
brings the real batch to the current resolution, blending two resolutions during a fade-in as the
generator does, and the networks read the current resolution and alpha before each use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.config import auto, opt, with_defaults
from deepgen.data.loader import Batch
from deepgen.models.adversarial import AdversarialConfig, AdversarialModel
from deepgen.models.base import StepLoss
from deepgen.models.sizing import EMA_HALF_LIFE, Sizing, default_batch, ema_decay, pow2, resolutions
from deepgen.nn.layers import halvings
from deepgen.nn.progressive import EqualConv2d, EqualLinear, MinibatchStd, PixelNorm, fade_in
from deepgen.registry import register


@dataclass
class ProgressiveConfig(AdversarialConfig):
    fade_images: int | None = auto("real images shown while a new resolution fades in", ge=1)
    stable_images: int | None = auto("real images shown at each resolution after its fade-in (and at the first)", ge=1)
    batch_sizes: list[int] | None = auto(
        "batch size at each resolution from the smallest up (the last repeats); empty: --batch-size", ge=1
    )
    fmap_base: int | None = auto("feature maps at resolution r: min(fmap_base / r, fmap_max)", ge=1)
    fmap_max: int | None = auto("the most feature maps at any resolution", ge=1)
    mbstd_group: int = opt(0, "minibatch-std group size (0: the whole batch, as in the paper)", ge=0)

    def sized(self, s: Sizing, batch_size: int | None) -> dict[str, Any]:
        """The paper's shape scaled down (its CelebA-HQ run: at most 512 maps, halving from 32 px, 800k images
        per phase, a 512-d latent). On a GPU: at most 128 maps up to 32 px (the paper's CIFAR-10 setting), 256 to
        128 px, 512 beyond, halving per doubling above 8 times the smallest resolution, and batches twice the
        batch size below 16 px. On a CPU, where a step's 3x3 convolutions at the image size cost most: maps
        halve at every doubling from the smallest resolution, to about 448 / image size at the image size (8 to
        64; at most four times that, and 128, anywhere), and batches of half the batch size at every resolution.
        Measured in 5 minutes on a CPU (one seed, classifier features): on mnist10k, 64, 32, 16 maps at 7, 14,
        28 px with batches of 64, 64, 32 made 1381 steps and FID 8.8, while 32 maps everywhere with batches of
        128, 128, 64 made 620 steps and FID 13.4 (the thinner maps alone: 14.8); on digits (8 px) batches of
        32 rather than 64 at 4 and 8 px made 2284 steps and FID 9.8, against 1281 and 13.0.
        The latent is as wide as the widest maps. Each fade-in and stable phase shows one pass over the
        training images on a CPU (5k to 800k images), 20 on a GPU (50k to 800k). Samples come from a moving
        average of the generator (no BatchNorm here) with a half-life of 10k real images (about the paper's),
        or a tenth of a phase if shorter, so that it follows each new layer (mnist10k on a CPU, 5 minutes: FID
        102 from an average with the 10k half-life, 19.7 from the generator itself)."""
        if s.gpu:
            batch = batch_size or default_batch(s)
            fmap_max = pow2(4 * s.image_size, 128, 512)
            fmap_base = fmap_max * resolutions(s.image_size)[0] * 8
        else:
            batch = batch_size or max(8, default_batch(s) // 2)
            top = pow2(448 / s.image_size, 8, 64)
            fmap_max, fmap_base = min(4 * top, 128), top * s.image_size
        n = s.n_images if s.n_images is not None else 30_000
        phase = min(max(n, 5_000), 800_000) if not s.gpu else min(max(20 * n, 50_000), 800_000)
        return super().sized(s, batch) | {
            "noise_dim": fmap_max,
            "ema_decay": ema_decay(batch, min(EMA_HALF_LIFE, phase / 10)),
            "fmap_max": fmap_max,
            "fmap_base": fmap_base,
            "fade_images": phase,
            "stable_images": phase,
            "batch_sizes": [2 * batch if r < 16 and s.gpu else batch for r in resolutions(s.image_size)],
        }


# The paper's settings: WGAN-GP (lambda 10, one critic step) with drift 0.001, Adam 0.001 with betas
# (0, 0.99) for both networks and an exponential moving average of the generator; its sizes (latent, maps,
# images per phase, batch sizes) and the EMA decay are sized to the data (configs/progan-celebahq.yaml: the paper's).
ProGANConfig = with_defaults(
    ProgressiveConfig,
    "ProGANConfig",
    loss="wasserstein",
    regularizer="gp",
    drift=0.001,
    critic_steps=1,
    lr_g=1e-3,
    lr_d=1e-3,
    betas_g=[0.0, 0.99],
    betas_d=[0.0, 0.99],
)


def schedule(seen: int, levels: int, fade: int, stable: int) -> tuple[int, float]:
    """(resolution level, alpha) after `seen` real images; level 0 is the smallest of `levels` resolutions."""
    if seen < stable:
        return 0, 1.0
    if fade + stable == 0:  # no growing: train at the image size from the start
        return levels - 1, 1.0
    level, into = divmod(seen - stable, fade + stable)
    if level + 1 >= levels:
        return levels - 1, 1.0
    return level + 1, min(into / fade, 1.0) if fade > 0 else 1.0


def lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2)


class Growing(nn.Module):
    """A network that runs at resolution level `level`, fading it in with weight `alpha` when below 1."""

    level: int = 0
    alpha: float = 1.0


class ProGenerator(Growing):
    """Latent -> start x start block, then a block per doubling (nearest upsampling, two 3x3 convs), each
    with pixel normalisation after every convolution and its own 1x1 'toRGB' output layer."""

    def __init__(self, in_dim: int, channels: list[int], out_channels: int, start: int):
        super().__init__()
        c = channels[0]
        self.base = nn.Sequential(
            PixelNorm(),
            EqualLinear(in_dim, c * start * start),
            nn.Unflatten(1, (c, start, start)),
            lrelu(),
            PixelNorm(),
            EqualConv2d(c, c, 3),
            lrelu(),
            PixelNorm(),
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                EqualConv2d(a, b, 3),
                lrelu(),
                PixelNorm(),
                EqualConv2d(b, b, 3),
                lrelu(),
                PixelNorm(),
            )
            for a, b in zip(channels, channels[1:])
        )
        self.to_rgb = nn.ModuleList(EqualConv2d(c, out_channels, 1, gain=1.0) for c in channels)

    def forward(self, z: Tensor) -> Tensor:
        h = previous = self.base(z)
        for block in self.blocks[: self.level]:
            previous, h = h, block(h)
        image = self.to_rgb[self.level](h)
        if self.alpha < 1:
            image = fade_in(self.to_rgb[self.level - 1](previous), image, self.alpha)
        return image


class ProCritic(Growing):
    """The generator's mirror: a 1x1 'fromRGB' layer per resolution, a block per halving (two 3x3 convs,
    average pooling), then minibatch std, a 3x3 conv and a dense layer over the start x start map."""

    def __init__(self, in_channels: int, channels: list[int], start: int, mbstd_group: int):
        super().__init__()
        self.from_rgb = nn.ModuleList(nn.Sequential(EqualConv2d(in_channels, c, 1), lrelu()) for c in channels)
        self.blocks = nn.ModuleList(  # blocks[i] takes level i + 1 down to level i
            nn.Sequential(EqualConv2d(b, b, 3), lrelu(), EqualConv2d(b, a, 3), lrelu(), nn.AvgPool2d(2))
            for a, b in zip(channels, channels[1:])
        )
        c = channels[0]
        self.final = nn.Sequential(
            MinibatchStd(mbstd_group),
            EqualConv2d(c + 1, c, 3),
            lrelu(),
            nn.Flatten(),
            EqualLinear(c * start * start, c),
            lrelu(),
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.from_rgb[self.level](x)
        if self.level > 0:
            h = self.blocks[self.level - 1](h)
            if self.alpha < 1:
                h = fade_in(self.from_rgb[self.level - 1](F.avg_pool2d(x, 2)), h, self.alpha)
        for i in reversed(range(self.level - 1)):
            h = self.blocks[i](h)
        return self.final(h)


@register("progan", "ProGAN: progressive growing (4 px up), equalised lr, pixel norm, minibatch std, WGAN-GP")
class ProGAN(AdversarialModel):
    Config = ProGANConfig

    def __init__(self, config: ProgressiveConfig, shape: tuple[int, int, int], classes: list[str]):
        self.start = halvings(shape[1])[1]
        self.resolutions = resolutions(shape[1])
        super().__init__(config, shape, classes)
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.int64))
        self.seen = 0  # mirrors the buffer, so reading the schedule needs no device sync
        self.register_load_state_dict_post_hook(ProGAN.restore_seen)
        self.drawn = 0  # the (global) size of the batches drawn in this step

    def restore_seen(self, incompatible_keys: object) -> None:
        self.seen = int(self.images_seen)

    @property
    def channels(self) -> list[int]:
        """Feature maps at each resolution."""
        c = self.config
        return [max(1, min(c.fmap_base // r, c.fmap_max)) for r in self.resolutions]

    def generator_body(self, in_dim: int) -> nn.Module:
        return ProGenerator(in_dim, self.channels, self.shape[0], self.start)

    def critic_features(self) -> tuple[nn.Module, int]:
        return ProCritic(self.shape[0], self.channels, self.start, self.config.mbstd_group), self.channels[0]

    def critic_head(self, feature_dim: int) -> nn.Module:
        return EqualLinear(feature_dim, 1, gain=1.0)

    # --- schedule -------------------------------------------------------------------------
    def progress(self) -> tuple[int, float]:
        """(resolution level, alpha) now."""
        c = self.config
        return schedule(self.seen, len(self.resolutions), c.fade_images, c.stable_images)

    def stage(self) -> str:
        level, alpha = self.progress()
        return f"{self.resolutions[level]}px" + ("-fade" if alpha < 1 else "")

    def current_batch_size(self, default: int) -> int:
        """The batch size of the current resolution; remembered, as the trainer draws a batch of it."""
        sizes = self.config.batch_sizes
        self.drawn = sizes[min(self.progress()[0], len(sizes) - 1)] if sizes else default
        return self.drawn

    def grow(self) -> None:
        """Set every growing network (the EMA copy too) to the current resolution and alpha."""
        level, alpha = self.progress()
        for m in self.modules():
            if isinstance(m, Growing):
                m.level, m.alpha = level, alpha

    def at_resolution(self, x: Tensor) -> Tensor:
        """Full-size images averaged down to the current resolution; during a fade-in, blended with their
        version at the previous resolution as the generator's output is."""
        level, alpha = self.progress()
        x = F.avg_pool2d(x, self.shape[1] // self.resolutions[level]) if level < len(self.resolutions) - 1 else x
        return fade_in(F.avg_pool2d(x, 2), x, alpha) if alpha < 1 else x

    # --- training -------------------------------------------------------------------------
    def loss(self, phase: str, batch: Batch) -> StepLoss:
        self.grow()
        return super().loss(phase, Batch(self.at_resolution(batch.x), batch.y))

    @torch.no_grad()
    def after_step(self, phase: str) -> None:
        super().after_step(phase)
        if phase == "G":  # a step is over: count the real images its critic updates saw
            self.seen += self.config.critic_steps * self.drawn
            self.images_seen.fill_(self.seen)

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Images at the current resolution, upsampled (nearest) to the full size and clamped to [-1, 1]."""
        self.grow()
        images = super().decode(z, labels)
        return F.interpolate(images, size=self.shape[1:], mode="nearest").clamp(-1, 1)
