"""Classifiers for the augmentation experiment, by name.

    small-cnn          deepgen's small CNN (three conv blocks, global average pooling)
    resnet18           torchvision's ResNet-18 from scratch, with a 3x3 stride-1 stem for small images
    sae                the stacked-autoencoder classifier (greedy layer-wise pretraining, then fine-tuning)
    torchvision:NAME   any torchvision model, e.g. torchvision:efficientnet_b3
    timm:NAME          any timm model (needs the timm package)

Pretrained weights are read from a local file (--classifier-weights PATH) with torch.load(weights_only=True);
the classifier head is replaced to fit the dataset's classes.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.augment.stacked_ae import StackedAutoencoderClassifier
from deepgen.errors import CheckpointError, ConfigError
from deepgen.eval.classifier import SmallCNN

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Backbone(nn.Module):
    """Feeds images in [-1, 1] to an ImageNet-style network: 3 channels, ImageNet normalisation and,
    when `size` is given, resized to size x size."""

    def __init__(self, net: nn.Module, size: int | None):
        super().__init__()
        self.net, self.size = net, size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        x = (x.expand(-1, 3, -1, -1) + 1) / 2
        if self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        return self.net((x - self.mean) / self.std)


def build_classifier(
    name: str, shape: tuple[int, int, int], num_classes: int, weights: Path | None = None, size: int | None = None
) -> nn.Module:
    channels = shape[0]
    if name == "small-cnn":
        return SmallCNN(channels, num_classes)
    if name == "sae":
        return StackedAutoencoderClassifier(shape, num_classes)
    if name == "resnet18":
        import torchvision

        net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
        net.conv1 = nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
        net.maxpool = nn.Identity()
        return net
    family, _, model = name.partition(":")
    if family == "torchvision":
        import torchvision

        if model not in torchvision.models.list_models():
            raise ConfigError(f"--classifier {name}: torchvision has no model {model!r}")
        net = torchvision.models.get_model(model, weights=None)
    elif family == "timm":
        try:
            import timm
        except ImportError:
            raise ConfigError(f"--classifier {name} needs the timm package (pip install timm)") from None
        net = timm.create_model(model, pretrained=False)
    else:
        raise ConfigError(f"unknown --classifier {name!r}; use small-cnn, resnet18, sae, torchvision:NAME or timm:NAME")
    if weights is not None:
        load_pretrained(net, weights)
    replace_head(net, num_classes)
    return Backbone(net, size)


def load_pretrained(net: nn.Module, path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"--classifier-weights {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors come in many types
        raise CheckpointError(f"cannot load {path} as a weights-only state dict: {e}") from None
    missing, unexpected = net.load_state_dict(state.get("state_dict", state), strict=False)
    if unexpected or len(missing) > 2:  # the head may differ; nothing else should
        raise CheckpointError(f"{path} does not fit this network (missing {missing[:5]}, unexpected {unexpected[:5]})")


def replace_head(net: nn.Module, num_classes: int) -> None:
    """Swap the last Linear layer for one with `num_classes` outputs."""
    name, last = [(n, m) for n, m in net.named_modules() if isinstance(m, nn.Linear)][-1]
    parent = net.get_submodule(name.rpartition(".")[0]) if "." in name else net
    setattr(parent, name.rpartition(".")[2], nn.Linear(last.in_features, num_classes))
