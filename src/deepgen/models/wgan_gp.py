"""WGAN-GP (Gulrajani et al. 2017): Wasserstein critic with a gradient penalty and no BatchNorm."""

from __future__ import annotations

from deepgen.models.configs.wgan_gp import WGANGPConfig
from deepgen.models.dcgan import DCGAN
from deepgen.registry import register


@register("wgan-gp", "WGAN-GP: Wasserstein critic with gradient penalty, no BatchNorm in the critic")
class WGANGP(DCGAN):
    Config = WGANGPConfig
