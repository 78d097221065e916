"""The options of StyleGAN2 (deepgen.models.stylegan) and the paper's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from deepgen.config import auto, opt, with_defaults
from deepgen.models.configs.adversarial import AdversarialConfig
from deepgen.models.sizing import EMA_HALF_LIFE, Sizing, default_batch, ema_decay, pow2, resolutions
from deepgen.nn.spec import StyleArch


@dataclass
class StyleConfig(AdversarialConfig):
    scarce_augment: ClassVar[str] = "adaptive"  # ADA
    r1_gamma: float | None = auto("R1 penalty weight on real images (0 = off)", ge=0)
    mapping_layers: int | None = auto("dense layers of the mapping network z -> w", ge=1)
    channel_base: int | None = auto("feature maps at resolution r: min(channel_base / r, channel_max)", ge=1)
    channel_max: int | None = auto("the most feature maps at any resolution", ge=1)
    g_arch: StyleArch = opt("skip", "generator outputs: skip (RGB layers summed over resolutions) or resnet")
    style_mixing: float | None = auto(
        "probability that a generated image mixes the styles of two noise vectors", ge=0, le=1
    )
    pl_weight: float = opt(0.0, "weight of the path-length regulariser (the paper: 2; 0 = off)", ge=0)
    pl_interval: int = opt(4, "steps between path-length regulariser steps (lazy)", ge=1)
    ema_rampup: float = opt(
        0.05, "the moving average's half-life is at most this share of the images seen so far (0 = none)", ge=0
    )
    mbstd_group: int = opt(4, "minibatch-std group size (0: the whole batch)", ge=0)
    truncation: float = opt(
        1.0, "sampling: truncation psi, w -> mean w + psi (w - mean w) (1 = none)", resumable=True, ge=0
    )
    mix_crossover: int = opt(
        0,
        "sampling: style-mixing grids take the first N style layers from the rows' noise (0: half)",
        resumable=True,
        ge=0,
    )

    def sized(self, s: Sizing, batch_size: int | None) -> dict[str, Any]:
        """The ADA paper's 'auto' configuration, scaled down on a CPU. Both: a 2-layer mapping network (8 on a
        GPU from 128 px, as in the paper's own configurations), Adam 0.0025 with betas (0, 0.99), R1 every 16
        steps with gamma = 0.0002 * size^2 / batch, a moving average of the generator with a 10k-image
        half-life (ramped up over the first 20 times as many images). On a GPU: maps min(16384 / r, 512) at
        resolution r (the paper's 32768 / r from 64 px), batches of 64. On a CPU, where the 3x3 convolutions
        at the image size cost most: maps halve at each doubling to about 448 / image size at the image size
        (8 to 64, at most 128; ProGAN's rule), w of the widest maps, batches of half the batch size, and no style
        mixing (the paper's CIFAR-10 setting; mnist10k, 120 s on one core, one seed: FID 35.3 with mixing 0.9,
        26.3 without). On scarce data ADA: the shared rule turns on `adaptive` augmentation, not `fixed`."""
        if s.gpu:
            batch = batch_size or min(64, default_batch(s))
            cmax = 512 if s.image_size >= 64 else 256
            cbase = 16384 if s.image_size < 64 else 32768
        else:
            batch = batch_size or max(8, default_batch(s) // 2)
            top = pow2(448 / s.image_size, 8, 64)
            cmax, cbase = min(4 * top, 128), top * s.image_size
        widest = min(cbase // resolutions(s.image_size)[0], cmax)
        return super().sized(s, batch) | {
            "style_mixing": 0.9 if s.gpu else 0.0,
            "noise_dim": widest,
            "mapping_layers": 8 if s.gpu and s.image_size >= 128 else 2,
            "channel_base": cbase,
            "channel_max": cmax,
            "lr_g": 0.0025,
            "lr_d": 0.0025,
            "r1_gamma": round(0.0002 * s.image_size**2 / batch, 6),
            "ema_decay": ema_decay(batch, EMA_HALF_LIFE),
        }


# The paper's loss and optimiser: non-saturating logistic loss, Adam betas (0, 0.99), lazy R1 every 16 steps;
# learning rates, gamma, widths, mapping depth and the moving average are sized (see StyleConfig.sized).
StyleGANConfig = with_defaults(
    StyleConfig,
    "StyleGANConfig",
    loss="bce",
    betas_g=[0.0, 0.99],
    betas_d=[0.0, 0.99],
    r1_interval=16,
)
