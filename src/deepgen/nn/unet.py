"""A small UNet for denoising diffusion: residual blocks conditioned on the timestep (and class), self-attention
at the low resolutions, configurable widths.

Level i works at size / 2**i with widths[i] channels; each level has `blocks` residual blocks on the way down
and `blocks + 1` on the way up, each fed the matching skip connection (as in Ho et al. 2020). Sizes need not be
powers of two: 28 px runs at 28, 14 and 7; 8 px digits at 8, 4 and 2. A `patch` of p > 1 first folds each p x p
patch of pixels into channels (pixel unshuffle, as a ViT patchifies) and unfolds the output again: level i then
works at size / p / 2**i, which cuts the cost of the full-resolution levels by about p**2 (28 px with p = 2: 14, 7).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.errors import ConfigError


def norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(channels, 8), channels)


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal features of (integer or real) timesteps, as in the Transformer: (N,) -> (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the embedding added in between, a residual path; optionally self-attention."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, attention: bool, dropout: float):
        super().__init__()
        self.conv1 = nn.Sequential(norm(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1))
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, c_out))
        self.conv2 = nn.Sequential(norm(c_out), nn.SiLU(), nn.Dropout(dropout), nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.attention = SelfAttention(c_out) if attention else None

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(x) + self.emb(emb)[:, :, None, None]
        h = self.conv2(h) + self.skip(x)
        return h if self.attention is None else self.attention(h)


class SelfAttention(nn.Module):
    """Single-head self-attention over the pixels of a feature map, with a residual connection."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)  # (N, HW, C) each
        a = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(a.transpose(1, 2).reshape(n, c, h, w))


class Level(nn.Module):
    """The blocks of one resolution and the resampling after them (None at the end of the path)."""

    def __init__(self, blocks: list[ResBlock], resample: nn.Module | None):
        super().__init__()
        self.blocks, self.resample = nn.ModuleList(blocks), resample


class UNet(nn.Module):
    """eps(x_t, t, y): images (N, C, H, W), timesteps (N,) and labels (N,) -> a tensor shaped like the images.

    `num_classes` > 0 adds a label embedding with one extra entry, `num_classes` itself, meaning "no label"
    (the unconditional model of classifier-free guidance).
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        widths: list[int],
        blocks: int,
        attention_size: int,
        num_classes: int = 0,
        dropout: float = 0.0,
        patch: int = 1,
    ):
        super().__init__()
        channels, size, _ = shape
        if size % (patch * 2 ** (len(widths) - 1)):
            raise ConfigError(
                f"the UNet folds {size} px images into {patch} px patches and halves them {len(widths) - 1} times "
                f"(one level per --widths entry); use a smaller --patch, fewer --widths or an image size "
                f"divisible by {patch * 2 ** (len(widths) - 1)}"
            )
        self.patch, size = patch, size // patch
        self.base = widths[0]
        emb_dim = 4 * widths[0]
        self.time = nn.Sequential(nn.Linear(widths[0], emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.num_classes = num_classes
        self.label = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        self.stem = nn.Conv2d(channels * patch**2, widths[0], 3, padding=1)
        skips, c, s, last = [widths[0]], widths[0], size, len(widths) - 1
        self.down = nn.ModuleList()
        for i, w in enumerate(widths):
            level = []
            for _ in range(blocks):
                level.append(ResBlock(c, w, emb_dim, s <= attention_size, dropout))
                c = w
                skips.append(c)
            self.down.append(Level(level, nn.Conv2d(c, c, 3, stride=2, padding=1) if i < last else None))
            if i < last:
                skips.append(c)
                s //= 2
        self.middle = nn.ModuleList(
            [ResBlock(c, c, emb_dim, True, dropout), ResBlock(c, c, emb_dim, False, dropout)]
        )
        self.up = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            level = []
            for _ in range(blocks + 1):
                level.append(ResBlock(c + skips.pop(), w, emb_dim, s <= attention_size, dropout))
                c = w
            upsample = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(c, c, 3, padding=1)) if i else None
            self.up.append(Level(level, upsample))
            s *= 2
        self.head = nn.Sequential(norm(c), nn.SiLU(), nn.Conv2d(c, channels * patch**2, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)  # start by predicting zero noise
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        emb = self.time(timestep_embedding(t, self.base))
        if self.label is not None:
            if labels is None:
                labels = torch.full((len(x),), self.num_classes, device=x.device)
            emb = emb + self.label(labels)
        h = self.stem(F.pixel_unshuffle(x, self.patch) if self.patch > 1 else x)
        skips = [h]
        for level in self.down:
            for block in level.blocks:
                h = block(h, emb)
                skips.append(h)
            if level.resample is not None:
                h = level.resample(h)
                skips.append(h)
        for block in self.middle:
            h = block(h, emb)
        for level in self.up:
            for block in level.blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if level.resample is not None:
                h = level.resample(h)
        out = self.head(h)
        return F.pixel_shuffle(out, self.patch) if self.patch > 1 else out
