"""What every classifier is: a network from float images in [-1, 1] to class logits, with its capabilities
declared, and the settings it is built from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from torch import Tensor, nn


class Classifier(nn.Module):
    """Images (N, C, H, W) in [-1, 1] -> logits (N, K). `pretrains` declares `pretrain`: unsupervised training on
    the (unlabelled) training images before `fit` trains it on labels."""

    pretrains: ClassVar[bool] = False

    def pretrain(self, images: Tensor, steps: int, seed: int) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no unsupervised pretraining")


@dataclass(frozen=True)
class Spec:
    """What a classifier is built for: image shape and class count; ImageNet weights (`pretrained`, or a local
    state dict `weights`) and the input size of ImageNet backbones."""

    shape: tuple[int, int, int]
    num_classes: int
    pretrained: bool = False
    weights: Path | None = None
    size: int | None = None


@dataclass(frozen=True)
class ClassifierEntry:
    """A registered classifier: `build(spec, variant)`; a `family` takes a variant (NAME:VARIANT); `pretrained`:
    it can start from ImageNet weights."""

    name: str
    description: str
    build: Callable[[Spec, str], Classifier]
    family: bool = False
    pretrained: bool = False

    @property
    def usage(self) -> str:
        return f"{self.name}:NAME" if self.family else self.name
