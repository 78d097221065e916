"""The options of the MLP GAN (deepgen.models.gan)."""

from __future__ import annotations

from dataclasses import dataclass

from deepgen.config import opt
from deepgen.models.configs.adversarial import AdversarialConfig


@dataclass
class GANConfig(AdversarialConfig):
    g_hidden: list[int] = opt([256, 512, 1024], "hidden layer sizes of the generator", ge=1)
    d_hidden: list[int] = opt([512, 256], "hidden layer sizes of the discriminator", ge=1)
