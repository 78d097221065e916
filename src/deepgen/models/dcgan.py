"""DCGAN (Radford et al. 2016): transposed-convolution generator with BatchNorm, strided-convolution critic."""

from __future__ import annotations

from torch import nn

from deepgen.errors import ConfigError
from deepgen.models.adversarial import AdversarialModel
from deepgen.models.configs.dcgan import CriticNorm, DCGANConfig
from deepgen.nn.spec import halvings
from deepgen.registry import register


def generator_body(shape: tuple[int, int, int], in_dim: int, width: int) -> nn.Sequential:
    """Noise -> start x start (4 or 7 px) by a transposed conv, then 2x upsampling blocks to `shape`."""
    c, size, _ = shape
    n, start = halvings(size)
    if n == 0:
        raise ConfigError(f"dcgan needs an image size with a factor of 2 (e.g. 28, 32, 64, 128), got {size}")
    chans = [width * 2 ** (n - 1 - i) for i in range(n)]
    layers: list[nn.Module] = [
        nn.Unflatten(1, (in_dim, 1, 1)),
        nn.ConvTranspose2d(in_dim, chans[0], start, 1, 0, bias=False),
    ]
    for a, b in zip(chans, chans[1:]):
        layers += [nn.BatchNorm2d(a), nn.ReLU(), nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False)]
    layers += [nn.BatchNorm2d(chans[-1]), nn.ReLU(), nn.ConvTranspose2d(chans[-1], c, 4, 2, 1), nn.Tanh()]
    return nn.Sequential(*layers)


def critic_features(shape: tuple[int, int, int], width: int, norm: CriticNorm) -> tuple[nn.Sequential, int]:
    """Stride-2 4x4 convolutions with LeakyReLU(0.2) down to 4 or 7 px, flattened."""
    c, size, _ = shape
    n, final = halvings(size)
    layers: list[nn.Module] = []
    for i in range(n):
        w = width * 2**i
        layers.append(nn.Conv2d(c, w, 4, 2, 1, bias=i == 0 or norm == "none"))
        if i > 0 and norm == "batch":
            layers.append(nn.BatchNorm2d(w))
        elif i > 0 and norm == "layer":
            layers.append(nn.GroupNorm(1, w))
        layers.append(nn.LeakyReLU(0.2))
        c = w
    return nn.Sequential(*layers, nn.Flatten()), c * final * final


@register("dcgan", "DCGAN: convolutional generator (BatchNorm) and critic (LeakyReLU), 28/32/64/128 px")
class DCGAN(AdversarialModel):
    Config = DCGANConfig

    def generator_body(self, in_dim: int) -> nn.Module:
        return generator_body(self.shape, in_dim, self.config.g_width)

    def critic_features(self) -> tuple[nn.Module, int]:
        return critic_features(self.shape, self.config.d_width, self.config.d_norm)
