"""The options of ProGAN (deepgen.models.progan) and the paper's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deepgen.config import auto, opt, with_defaults
from deepgen.models.configs.adversarial import AdversarialConfig
from deepgen.models.sizing import EMA_HALF_LIFE, Sizing, default_batch, ema_decay, pow2, resolutions


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
