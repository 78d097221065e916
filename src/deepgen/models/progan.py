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

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.data.loader import Batch
from deepgen.models.adversarial import AdversarialModel
from deepgen.models.base import StepLoss
from deepgen.models.configs.progan import ProGANConfig, ProgressiveConfig
from deepgen.models.sizing import resolutions
from deepgen.nn.progressive import EqualConv2d, EqualLinear, MinibatchStd, PixelNorm, fade_in
from deepgen.nn.spec import halvings
from deepgen.registry import register


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
