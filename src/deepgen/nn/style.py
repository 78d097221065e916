"""Building blocks of StyleGAN2 (Karras et al. 2020), on the equalised layers of `deepgen.nn.progressive`.

- `ModulatedConv2d`: a convolution whose input channels are scaled per sample by a style s = A(w), and whose
  output channels are then divided by the norm of the scaled weights (demodulation), which replaces AdaIN.
  It is computed as scale input -> shared convolution -> scale output (the paper's non-fused form), which is
  exactly the per-sample convolution with weights w_oik * s_i / sqrt(sum_ik (w_oik * s_i)^2 + eps).
- `StyleLayer`: a modulated 3x3 convolution (after a bilinear 2x upsampling when asked), per-pixel noise with a
  learned strength, a bias and a leaky ReLU (times sqrt 2, the He gain the demodulated weights cannot carry).
- `MappingNetwork`: z (and an embedded class) -> w, through normalised inputs and slowed-down dense layers.
- `SynthesisNetwork`: a learned constant, a block per doubling, RGB outputs summed across resolutions (skip)
  or one at the end of residual blocks (resnet).
- `StyleGenerator`: mapping and synthesis, the running mean of w (for truncation) and style mixing.
- `ResidualCritic`: residual blocks down to the smallest resolution, minibatch std, a dense layer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.nn.progressive import EqualConv2d, Equalised, EqualLinear, MinibatchStd, PixelNorm
from deepgen.nn.spec import StyleArch

SQRT2 = math.sqrt(2)


def upsample(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class ModulatedConv2d(Equalised):
    """A square 'same' convolution modulated by styles from w (per sample, per input channel)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int, demodulate: bool = True):
        super().__init__((out_channels, in_channels, kernel_size, kernel_size), 1.0, 1.0, False, 0.0)
        self.affine = EqualLinear(w_dim, in_channels, gain=1.0, bias_init=1.0)  # styles start at 1
        self.demodulate, self.padding = demodulate, kernel_size // 2

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        return self.modulated(x, self.affine(w))

    def modulated(self, x: Tensor, styles: Tensor) -> Tensor:
        """The convolution of `x` (B, in, H, W) modulated by `styles` (B, in)."""
        weight, _ = self.effective()
        out = F.conv2d(x * styles[:, :, None, None], weight, padding=self.padding)
        if self.demodulate:
            norm = (weight[None] * styles[:, None, :, None, None]).square().sum((2, 3, 4))  # (B, out)
            out = out * torch.rsqrt(norm + 1e-8)[:, :, None, None]
        return out


class StyleLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim)
        self.up = up
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))  # the noise of samples

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        x = self.conv(upsample(x) if self.up else x, w)
        if self.training:  # fresh noise while training; fixed noise in samples, so a seed gives one image
            noise = torch.randn(len(x), 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const
        x = x + self.noise_strength * noise + self.bias[:, None, None]
        return F.leaky_relu(x, 0.2) * SQRT2


class ToRGB(nn.Module):
    """A modulated 1x1 convolution (not demodulated) to the image channels, plus a bias."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        return self.conv(x, w) + self.bias[:, None, None]


class MappingNetwork(nn.Module):
    """Normalised z, with a normalised class embedding beside it when `num_classes`, through `layers` dense layers
    with leaky ReLU whose learning rate is `lr_mul` times the rest (0.01, as in the paper)."""

    def __init__(self, z_dim: int, w_dim: int, num_classes: int, layers: int, lr_mul: float = 0.01):
        super().__init__()
        self.z_dim, self.norm = z_dim, PixelNorm()
        self.embed = EqualLinear(num_classes, w_dim, gain=1.0) if num_classes else None
        sizes = [z_dim + (w_dim if num_classes else 0)] + [w_dim] * layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=lr_mul) for a, b in zip(sizes, sizes[1:]))

    def forward(self, z: Tensor, onehot: Tensor | None = None) -> Tensor:
        x = self.norm(z)
        if self.embed is not None:
            x = torch.cat([x, self.norm(self.embed(onehot))], dim=1)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)
        return x


class SynthesisNetwork(nn.Module):
    """ws (B, num_ws, w_dim) -> images. `channels[i]` feature maps at resolution start * 2^i. The layers take w
    in order: at the start resolution conv w0 and RGB w1, then per block up-conv w(2i-1), conv w(2i), RGB w(2i+1)
    (an RGB layer shares its w with the next block's first conv, as in the paper)."""

    def __init__(self, channels: list[int], out_channels: int, start: int, w_dim: int, arch: StyleArch = "skip"):
        super().__init__()
        self.arch, self.num_ws = arch, 2 * len(channels)
        self.const = nn.Parameter(torch.randn(channels[0], start, start))
        self.first = StyleLayer(channels[0], channels[0], w_dim, start)
        sizes = [start * 2 ** (i + 1) for i in range(len(channels) - 1)]
        self.blocks = nn.ModuleList(
            nn.ModuleList([StyleLayer(a, b, w_dim, r, up=True), StyleLayer(b, b, w_dim, r)])
            for a, b, r in zip(channels, channels[1:], sizes)
        )
        rgb_at = channels if arch == "skip" else channels[-1:]
        self.to_rgb = nn.ModuleList(ToRGB(c, out_channels, w_dim) for c in rgb_at)
        self.skips = nn.ModuleList(
            EqualConv2d(a, b, 1, gain=1.0, bias=False) for a, b in zip(channels, channels[1:]) if arch == "resnet"
        )

    def forward(self, ws: Tensor) -> Tensor:
        x = self.first(self.const.expand(len(ws), -1, -1, -1), ws[:, 0])
        image = self.to_rgb[0](x, ws[:, 1]) if self.arch == "skip" else None
        for i, (up, conv) in enumerate(self.blocks):
            y = conv(up(x, ws[:, 2 * i + 1]), ws[:, 2 * i + 2])
            x = y if self.arch == "skip" else (upsample(self.skips[i](x)) + y) / SQRT2
            if self.arch == "skip":
                image = upsample(image) + self.to_rgb[i + 1](x, ws[:, 2 * i + 3])
        return image if self.arch == "skip" else self.to_rgb[-1](x, ws[:, -1])


class StyleGenerator(nn.Module):
    """(z, one-hot class) concatenated -> images. While training it tracks the mean of w (decay `w_avg_beta`)
    and mixes styles: with probability `mixing`, the layers from a random crossover on take the w of a second z
    (of the same class)."""

    def __init__(self, mapping: MappingNetwork, synthesis: SynthesisNetwork, mixing: float, w_avg_beta: float = 0.995):
        super().__init__()
        self.mapping, self.synthesis = mapping, synthesis
        self.mixing, self.w_avg_beta = mixing, w_avg_beta
        self.register_buffer("w_avg", torch.zeros(mapping.layers[-1].weight.shape[0]))

    def map(self, inputs: Tensor, z: Tensor | None = None) -> Tensor:
        """w of the noise in `inputs` (or of `z` instead), with the class in `inputs` when conditional."""
        d = self.mapping.z_dim
        onehot = inputs[:, d:] if self.mapping.embed is not None else None
        return self.mapping(inputs[:, :d] if z is None else z, onehot)

    def styles(self, inputs: Tensor, psi: float = 1.0) -> Tensor:
        """The w of each synthesis layer (B, num_ws, w_dim); mixed while training, truncated towards the mean
        w by `psi` otherwise."""
        n = self.synthesis.num_ws
        w = self.map(inputs)
        if not self.training:
            return self.w_avg.lerp(w, psi)[:, None].expand(-1, n, -1)
        with torch.no_grad():
            self.w_avg.lerp_(w.detach().mean(0).to(self.w_avg.dtype), 1 - self.w_avg_beta)
        ws = w[:, None].expand(-1, n, -1)
        if self.mixing > 0 and n > 1:
            other = self.map(inputs, torch.randn_like(inputs[:, : self.mapping.z_dim]))
            cut = torch.randint(1, n, (len(w), 1), device=w.device)
            cut = torch.where(torch.rand(len(w), 1, device=w.device) < self.mixing, cut, n)
            later = torch.arange(n, device=w.device)[None] >= cut  # (B, n): layers that take the other w
            ws = torch.where(later[:, :, None], other[:, None], ws)
        return ws

    def forward(self, inputs: Tensor) -> Tensor:
        return self.synthesis(self.styles(inputs))


class ResidualCritic(nn.Module):
    """Images -> feature vectors (`channels[0]` wide). `channels[i]` maps at resolution start * 2^i: a 1x1
    'fromRGB' at the image size, residual blocks (two 3x3 convs, then 2x average pooling, beside a pooled 1x1
    skip) down to the start resolution, then minibatch std, a 3x3 conv and a dense layer."""

    def __init__(self, in_channels: int, channels: list[int], start: int, mbstd_group: int):
        super().__init__()
        top = channels[-1]
        self.from_rgb = nn.Sequential(EqualConv2d(in_channels, top, 1), nn.LeakyReLU(0.2))
        self.blocks = nn.ModuleList(
            nn.ModuleList(
                [
                    nn.Sequential(EqualConv2d(b, b, 3), nn.LeakyReLU(0.2), EqualConv2d(b, a, 3), nn.LeakyReLU(0.2)),
                    EqualConv2d(b, a, 1, gain=1.0, bias=False),
                ]
            )
            for a, b in reversed(list(zip(channels, channels[1:])))
        )
        c = channels[0]
        self.final = nn.Sequential(
            MinibatchStd(mbstd_group),
            EqualConv2d(c + 1, c, 3),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            EqualLinear(c * start * start, c),
            nn.LeakyReLU(0.2),
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.from_rgb(x)
        for main, skip in self.blocks:
            h = (F.avg_pool2d(main(h), 2) + F.avg_pool2d(skip(h), 2)) / SQRT2
        return self.final(h)
