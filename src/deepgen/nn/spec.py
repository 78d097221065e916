"""What the network blocks, losses and augmentations offer, importable without torch: the names of their choices
and the halving of an image size. The model configs (deepgen.models.configs) declare their options with these, so
that `deepgen train MODEL --help` starts without importing torch."""

from __future__ import annotations

from typing import Literal

Arch = Literal["conv", "dense"]  # the autoencoders' encoder/decoder stacks (deepgen.nn.layers)
StyleArch = Literal["skip", "resnet"]  # StyleGAN's generator outputs (deepgen.nn.style)
ReconLoss = Literal["mse", "bce"]  # deepgen.losses.reconstruction
AdversarialLoss = Literal["bce", "hinge", "wasserstein"]  # deepgen.losses.critic_terms, generator_term
OPS = ("color", "translation", "cutout")  # the groups of differentiable augmentation (deepgen.nn.diffaugment)


def halvings(size: int, smallest: int = 4) -> tuple[int, int]:
    """How often `size` can be halved evenly while staying above `smallest`, and the final size."""
    n = 0
    while size % 2 == 0 and size > smallest:
        size, n = size // 2, n + 1
    return n, size
