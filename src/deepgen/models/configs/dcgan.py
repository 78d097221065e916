"""The options of DCGAN (deepgen.models.dcgan) and the width of a convolutional critic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from deepgen.config import auto, opt
from deepgen.models.configs.adversarial import AdversarialConfig
from deepgen.models.sizing import Sizing, pow2

CriticNorm = Literal["batch", "layer", "none"]


@dataclass
class DCGANConfig(AdversarialConfig):
    g_width: int | None = auto("channels of the generator's last hidden layer, doubling towards the noise", ge=1)
    d_width: int | None = auto("channels of the critic's first layer, doubling per layer", ge=1)
    d_norm: CriticNorm = opt("batch", "normalisation in the critic: batch, layer (per-sample) or none")

    def sized(self, s: Sizing, batch_size: int | None) -> dict[str, Any]:
        """Both networks `conv_width` wide."""
        width = conv_width(s)
        return super().sized(s, batch_size) | {"g_width": width, "d_width": width}


def conv_width(s: Sizing) -> int:
    """The first (last) layer's channels of a convolutional critic (generator), doubling per halving: 64 on a
    GPU (the DCGAN paper's), 32 for images beyond 64 px; on a CPU about 1024 / image size (32 for 28-32 px, 16 for
    64 px), so that a step costs about the same at every size."""
    return pow2(1024 / s.image_size, 16, 64) if not s.gpu else pow2(4096 / s.image_size, 32, 64)
