"""WGAN-GP (Gulrajani et al. 2017): Wasserstein critic with a gradient penalty and no BatchNorm."""

from __future__ import annotations

from deepgen.config import with_defaults
from deepgen.models.dcgan import DCGAN, DCGANConfig
from deepgen.registry import register

# Adam 2e-4 with betas (0.5, 0.9), lambda = 10, a layer-normalised critic; critic steps auto (the paper's 5 on a GPU).
WGANGPConfig = with_defaults(
    DCGANConfig,
    "WGANGPConfig",
    loss="wasserstein",
    regularizer="gp",
    betas_g=[0.5, 0.9],
    betas_d=[0.5, 0.9],
    d_norm="layer",
)


@register("wgan-gp", "WGAN-GP: Wasserstein critic with gradient penalty, no BatchNorm in the critic")
class WGANGP(DCGAN):
    Config = WGANGPConfig
