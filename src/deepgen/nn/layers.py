"""Encoder/decoder stacks shared by the autoencoder family."""

from __future__ import annotations

from torch import nn

from deepgen.nn.spec import Arch, halvings


def mlp(sizes: list[int], activation: type[nn.Module] = nn.ReLU, batch_norm: bool = False) -> nn.Sequential:
    """Linear layers of the given sizes with `activation` (after BatchNorm if asked) between them,
    none after the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        hidden = i < len(sizes) - 2
        layers.append(nn.Linear(a, b, bias=not (hidden and batch_norm)))
        if hidden:
            layers += [nn.BatchNorm1d(b)] if batch_norm else []
            layers.append(activation())
    return nn.Sequential(*layers)


def widths(n: int, width: int) -> list[int]:
    return [min(width * 2**i, width * 8) for i in range(n)]


def conv_encoder(shape: tuple[int, int, int], out_dim: int, width: int) -> nn.Sequential:
    """Stride-2 4x4 convolutions (BatchNorm, LeakyReLU) down to <= 7 px, then a linear layer."""
    c, size, _ = shape
    n, final = halvings(size)
    layers: list[nn.Module] = []
    for i, w in enumerate(widths(n, width)):
        layers += [nn.Conv2d(c, w, 4, 2, 1, bias=i == 0)]
        layers += [nn.BatchNorm2d(w)] if i > 0 else []
        layers += [nn.LeakyReLU(0.2)]
        c = w
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * final * final, out_dim))


def conv_decoder(shape: tuple[int, int, int], in_dim: int, width: int) -> nn.Sequential:
    """The mirror of `conv_encoder`: linear layer, then stride-2 transposed convolutions to `shape`."""
    c_out, size, _ = shape
    n, final = halvings(size)
    ws = widths(n, width)[::-1] or [c_out]
    layers: list[nn.Module] = [nn.Linear(in_dim, ws[0] * final * final), nn.Unflatten(1, (ws[0], final, final))]
    for i in range(n):
        last = i == n - 1
        out = c_out if last else ws[i + 1]
        layers += [nn.ReLU(), nn.ConvTranspose2d(ws[i], out, 4, 2, 1, bias=last)]
        layers += [] if last else [nn.BatchNorm2d(out)]
    return nn.Sequential(*layers)


def encoder(arch: Arch, shape: tuple[int, int, int], out_dim: int, width: int, hidden: list[int]) -> nn.Module:
    if arch == "conv":
        return conv_encoder(shape, out_dim, width)
    c, h, w = shape
    return nn.Sequential(nn.Flatten(), mlp([c * h * w, *hidden, out_dim]))


def decoder(arch: Arch, shape: tuple[int, int, int], in_dim: int, width: int, hidden: list[int]) -> nn.Module:
    """Maps a code to per-pixel logits of shape `shape`."""
    if arch == "conv":
        return conv_decoder(shape, in_dim, width)
    c, h, w = shape
    return nn.Sequential(mlp([in_dim, *hidden[::-1], c * h * w]), nn.Unflatten(1, shape))
