"""WGAN-GP (Gulrajani et al. 2017): Wasserstein critic with a gradient penalty and no BatchNorm."""

from __future__ import annotations

from deepgen.config import with_defaults
from deepgen.models.dcgan import DCGAN, DCGANConfig
from deepgen.registry import register

# Adam 2e-4 with betas (0.5, 0.9), 5 critic steps, lambda = 10, a layer-normalised critic.
WGANGPConfig = with_defaults(
    DCGANConfig,
    "WGANGPConfig",
    loss="wasserstein",
    regularizer="gp",
    critic_steps=5,
    betas_g=[0.5, 0.9],
    betas_d=[0.5, 0.9],
    d_norm="layer",
)


@register("wgan-gp", "WGAN-GP: Wasserstein critic with gradient penalty, no BatchNorm in the critic")
class WGANGP(DCGAN):
    Config = WGANGPConfig
