"""Build any registered classifier by name."""

from __future__ import annotations

from pathlib import Path

from deepgen.classify.base import Classifier, Spec
from deepgen.errors import ConfigError
from deepgen.registry import classifiers, get_classifier


def build_classifier(
    name: str,
    shape: tuple[int, int, int],
    num_classes: int,
    weights: Path | None = None,
    size: int | None = None,
    pretrained: bool = False,
) -> Classifier:
    """The classifier `name` (e.g. small-cnn, torchvision:resnet18) for `num_classes` classes of `shape` images;
    `pretrained`: start from ImageNet weights, `weights`: from a local state dict; `size`: backbones' input size."""
    entry, variant = get_classifier(name)
    if pretrained and not entry.pretrained:
        offer = [e.usage for e in classifiers().values() if e.pretrained]
        raise ConfigError(f"--pretrained: {name} has no ImageNet weights; use one of {', '.join(offer)}")
    if weights is not None and not entry.family:
        raise ConfigError(f"--classifier-weights: {name} takes no weights file (torchvision:NAME and timm:NAME do)")
    return entry.build(Spec(tuple(shape), num_classes, pretrained, weights, size), variant)
