"""The options of GAIA (deepgen.models.gaia)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deepgen.config import auto, opt
from deepgen.models.sizing import AutoSized, Sizing, pow2


@dataclass
class GAIAConfig(AutoSized):
    latent_dim: int | None = auto("size of the generator's code", ge=1)
    width: int = opt(32, "channels of the generator's first conv layer, doubling per layer", ge=1)
    d_latent_dim: int = opt(64, "size of the discriminator autoencoder's bottleneck", ge=1)
    d_width: int = opt(32, "channels of the discriminator's first conv layer, doubling per layer", ge=1)
    gamma: float = opt(0.5, "BEGAN diversity ratio: the fake/real reconstruction-error ratio k_t steers towards", gt=0)
    lambda_k: float = opt(1e-3, "step size of the k_t update", ge=0)
    xg_weight: float = opt(1.0, "weight of the generator's own reconstruction error mean |x - G(x)|", ge=0)
    alpha_std: float = opt(0.25, "interpolation weights are drawn from N(0.5, alpha_std) clipped to [0, 1]", ge=0)
    prior_momentum: float = opt(
        0.01, "momentum of the running code mean/covariance that samples are drawn from", gt=0, le=1
    )
    lr: float | None = auto("Adam learning rate of both networks", gt=0)
    betas: list[float] = opt([0.5, 0.999], "Adam betas of both networks", ge=0, lt=1, size=2)

    def sized(self, s: Sizing, batch_size: int | None) -> dict[str, Any]:
        """A code of about one dimension per 48 pixel values (16 to 128): samples are drawn from a Gaussian fitted
        to the codes, which fits a small code better (mnist10k, 5 minutes: FID 10.8 and mean classifier
        confidence 0.73 with 16 dimensions, 13.1 and 0.70 with 64). A learning rate of 5e-4 on a GPU, 1e-3 on a
        CPU, where runs are short (mnist10k, 5 minutes, 16 dimensions: FID 9.0 against 10.7)."""
        lr = 5e-4 if s.gpu else 1e-3
        return super().sized(s, batch_size) | {"latent_dim": pow2(s.pixels / 48, 16, 128), "lr": lr}
