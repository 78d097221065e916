"""Building blocks of progressively grown GANs (Karras et al. 2018), kept apart for StyleGAN to reuse.

- `PixelNorm`: each pixel's feature vector scaled to unit mean square.
- `EqualLinear`, `EqualConv2d`: the equalised learning rate. Weights are stored N(0, 1) and multiplied
  by the He constant gain / sqrt(fan_in) at every call, so Adam's scale-free steps move every layer's
  effective weights by the same relative amount whatever its fan-in.
- `MinibatchStd`: appends the samples' standard deviation as one feature map, so the critic can see
  a batch lacking variety.
- `fade_in`: blends the old and the new path while a new resolution is faded in.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HE_GAIN = math.sqrt(2)  # for layers followed by a (leaky) ReLU


class PixelNorm(nn.Module):
    """x / sqrt(mean over channels of x^2 + eps), at every pixel (or for every vector, on 2-d input)."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + self.eps)


class Equalised(nn.Module):
    """Weights of shape `shape` (out, in, ...) stored N(0, 1) / lr_mul and scaled at run time.

    The effective weights have std gain / sqrt(fan_in); `lr_mul` < 1 slows the layer down (StyleGAN's
    mapping network) without changing them. The effective bias starts at `bias_init`.
    """

    def __init__(self, shape: tuple[int, ...], gain: float, lr_mul: float, bias: bool, bias_init: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(shape) / lr_mul)
        self.bias = nn.Parameter(torch.full((shape[0],), bias_init / lr_mul)) if bias else None
        self.weight_gain = gain * lr_mul / math.sqrt(math.prod(shape[1:]))
        self.lr_mul = lr_mul

    def effective(self) -> tuple[Tensor, Tensor | None]:
        """The weight and bias the layer applies."""
        return self.weight * self.weight_gain, None if self.bias is None else self.bias * self.lr_mul


class EqualLinear(Equalised):
    def __init__(
        self,
        in_features: int,
        out_features: int,
        gain: float = HE_GAIN,
        lr_mul: float = 1.0,
        bias: bool = True,
        bias_init: float = 0.0,
    ):
        super().__init__((out_features, in_features), gain, lr_mul, bias, bias_init)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, *self.effective())


class EqualConv2d(Equalised):
    """A square convolution with 'same' padding (odd kernel sizes)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        gain: float = HE_GAIN,
        lr_mul: float = 1.0,
        bias: bool = True,
        bias_init: float = 0.0,
    ):
        super().__init__((out_channels, in_channels, kernel_size, kernel_size), gain, lr_mul, bias, bias_init)
        self.padding = kernel_size // 2

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, *self.effective(), padding=self.padding)


class MinibatchStd(nn.Module):
    """Appends one feature map: the std of each feature over a group of samples, averaged over features
    and pixels. The batch splits into groups of `group_size` (or of gcd(batch, group_size) when that
    does not divide it); 0 takes the whole batch as one group, as in the paper."""

    def __init__(self, group_size: int = 0, eps: float = 1e-8):
        super().__init__()
        self.group_size, self.eps = group_size, eps

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = math.gcd(n, self.group_size) if self.group_size > 0 else n
        groups = x.reshape(g, n // g, c, h, w)  # sample i falls into group i % (n // g)
        std = (groups.var(dim=0, unbiased=False) + self.eps).sqrt().mean(dim=(1, 2, 3))
        return torch.cat([x, std.repeat(g).view(n, 1, 1, 1).expand(n, 1, h, w)], dim=1)


def fade_in(old: Tensor, new: Tensor, alpha: float) -> Tensor:
    """(1 - alpha) * old + alpha * new; a smaller `old` is first upsampled (nearest) to the size of `new`."""
    if old.shape[-2:] != new.shape[-2:]:
        old = F.interpolate(old, size=new.shape[-2:], mode="nearest")
    return torch.lerp(old, new, alpha)
