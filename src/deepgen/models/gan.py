"""GAN with multilayer perceptrons (Goodfellow et al. 2014); BatchNorm in the generator keeps it from
collapsing onto a few modes."""

from __future__ import annotations

from functools import partial

from torch import nn

from deepgen.models.adversarial import AdversarialModel
from deepgen.models.configs.gan import GANConfig
from deepgen.nn.layers import mlp
from deepgen.registry import register

LeakyReLU = partial(nn.LeakyReLU, 0.2)


@register("gan", "GAN with MLP generator and discriminator; normal, uniform or Poisson noise")
class GAN(AdversarialModel):
    Config = GANConfig

    def generator_body(self, in_dim: int) -> nn.Module:
        c, h, w = self.shape
        return nn.Sequential(
            mlp([in_dim, *self.config.g_hidden, c * h * w], LeakyReLU, batch_norm=True),
            nn.Tanh(),
            nn.Unflatten(1, self.shape),
        )

    def critic_features(self) -> tuple[nn.Module, int]:
        c, h, w = self.shape
        hidden = self.config.d_hidden
        return nn.Sequential(nn.Flatten(), mlp([c * h * w, *hidden], LeakyReLU), LeakyReLU()), hidden[-1]
