"""WGAN (Arjovsky et al. 2017): the DCGAN networks trained as a Wasserstein critic with weight clipping."""

from __future__ import annotations

from deepgen.config import with_defaults
from deepgen.models.dcgan import DCGAN, DCGANConfig
from deepgen.registry import register

# The paper's recipe: RMSprop, weights clipped to [-0.01, 0.01]; critic steps and learning rates auto (on a GPU the
# paper's 5 steps and 5e-5).
WGANConfig = with_defaults(
    DCGANConfig,
    "WGANConfig",
    loss="wasserstein",
    regularizer="clip",
    optimizer="rmsprop",
)


@register("wgan", "WGAN: Wasserstein critic with weight clipping (RMSprop)")
class WGAN(DCGAN):
    Config = WGANConfig
