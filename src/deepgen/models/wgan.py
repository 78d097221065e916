"""WGAN (Arjovsky et al. 2017): the DCGAN networks trained as a Wasserstein critic with weight clipping."""

from __future__ import annotations

from deepgen.config import with_defaults
from deepgen.models.dcgan import DCGAN, DCGANConfig
from deepgen.registry import register

# The paper's recipe: RMSprop 5e-5, weights clipped to [-0.01, 0.01]; critic steps auto (the paper's 5 on a GPU).
WGANConfig = with_defaults(
    DCGANConfig,
    "WGANConfig",
    loss="wasserstein",
    regularizer="clip",
    optimizer="rmsprop",
    lr_g=5e-5,
    lr_d=5e-5,
)


@register("wgan", "WGAN: Wasserstein critic with weight clipping (RMSprop)")
class WGAN(DCGAN):
    Config = WGANConfig
