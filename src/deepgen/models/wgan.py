"""WGAN (Arjovsky et al. 2017): the DCGAN networks trained as a Wasserstein critic with weight clipping."""

from __future__ import annotations

from deepgen.models.configs.wgan import WGANConfig
from deepgen.models.dcgan import DCGAN
from deepgen.registry import register


@register("wgan", "WGAN: Wasserstein critic with weight clipping (RMSprop)")
class WGAN(DCGAN):
    Config = WGANConfig
