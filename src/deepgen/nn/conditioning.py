"""Generator and discriminator wrappers that add (optional) class conditioning."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Generator(nn.Module):
    """`body` maps noise, with the class as a one-hot vector appended when conditional, to images."""

    def __init__(self, body: nn.Module, num_classes: int = 0):
        super().__init__()
        self.body, self.num_classes = body, num_classes

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.body(self.inputs(z, labels))

    def inputs(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """What the body receives: the noise, with the one-hot class appended when conditional."""
        if self.num_classes:
            z = torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], dim=1)
        return z


class Critic(nn.Module):
    """`features` map images to vectors h; the score is w.h + b, plus g <embed(y), h> when conditional
    (the projection discriminator of Miyato & Koyama 2018, with g = `projection_gain`)."""

    def __init__(
        self,
        features: nn.Module,
        feature_dim: int,
        num_classes: int = 0,
        head: nn.Module | None = None,
        projection_gain: float = 1.0,
    ):
        super().__init__()
        self.features, self.projection_gain = features, projection_gain
        self.head = head or nn.Linear(feature_dim, 1)
        self.embed = nn.Embedding(num_classes, feature_dim) if num_classes else None

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.features(x)
        score = self.head(h).squeeze(1)
        if self.embed is not None:
            score = score + self.projection_gain * (self.embed(labels) * h).sum(1)
        return score
