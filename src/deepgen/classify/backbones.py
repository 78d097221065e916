"""ImageNet-style networks as classifiers: torchvision's ResNet-18 adapted to small images, any torchvision model
(torchvision:NAME; with --pretrained, its ImageNet weights through torchvision's weights API), any timm model
(timm:NAME). A local state dict (--classifier-weights PATH) is read with torch.load(weights_only=True); the last
linear layer is replaced to fit the dataset's classes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.classify.base import Classifier, Spec
from deepgen.errors import CheckpointError, ConfigError
from deepgen.io import hub_file
from deepgen.registry import register_classifier

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Backbone(Classifier):
    """Feeds images in [-1, 1] to an ImageNet-style network the usual way: grey images repeated to 3 channels,
    scaled to [0, 1], resized to size x size (bilinear, antialiased) when `size` is given, and normalised with the
    ImageNet channel means and deviations."""

    def __init__(self, net: nn.Module, size: int | None, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.net, self.size = net, size
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        x = (x.expand(-1, 3, -1, -1) + 1) / 2
        if self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        return self.net((x - self.mean) / self.std)


class SmallImageResNet(Classifier):
    """torchvision's ResNet-18 from scratch, with a 3x3 stride-1 stem and no max-pool, for 28-64 px images."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        import torchvision

        self.net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
        self.net.conv1 = nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
        self.net.maxpool = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


@register_classifier("resnet18", "torchvision's ResNet-18 from scratch, with a 3x3 stride-1 stem for small images")
def small_image_resnet(spec: Spec, variant: str) -> SmallImageResNet:
    return SmallImageResNet(spec.shape[0], spec.num_classes)


@register_classifier(
    "torchvision", "any torchvision model, e.g. torchvision:efficientnet_b3 (ImageNet weights with --pretrained)",
    family=True, pretrained=True,
)  # fmt: skip
def torchvision_model(spec: Spec, variant: str) -> Backbone:
    import torchvision

    if variant not in torchvision.models.list_models():
        raise ConfigError(f"--classifier torchvision:{variant}: torchvision has no model {variant!r}")
    net = torchvision.models.get_model(variant, weights=None)
    size, mean, std = spec.size, IMAGENET_MEAN, IMAGENET_STD
    if spec.pretrained:
        weights = imagenet_weights(variant)
        preset = weights.transforms()
        size, mean, std = size or preset.crop_size[0], preset.mean, preset.std
        path = spec.weights or hub_file(
            weights.url, f"ImageNet {variant}", "pass a copy of that file with --classifier-weights PATH"
        )
        load_weights(net, path, strict=True)
    elif spec.weights is not None:
        load_weights(net, spec.weights, strict=False)
    replace_head(net, spec.num_classes)
    return Backbone(net, size, mean, std)


@register_classifier("timm", "any timm model, e.g. timm:convnext_nano (needs the timm package)", family=True)
def timm_model(spec: Spec, variant: str) -> Backbone:
    try:
        import timm
    except ImportError:
        raise ConfigError(f"--classifier timm:{variant} needs the timm package (pip install timm)") from None
    net = timm.create_model(variant, pretrained=False)
    if spec.weights is not None:
        load_weights(net, spec.weights, strict=False)
    replace_head(net, spec.num_classes)
    return Backbone(net, spec.size, IMAGENET_MEAN, IMAGENET_STD)


def imagenet_weights(name: str):  # noqa: ANN201  (a torchvision WeightsEnum member)
    """torchvision's default ImageNet weights of model `name` (their URL, preprocessing and accuracy)."""
    import torchvision

    try:
        return torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, AttributeError, KeyError):
        raise ConfigError(f"--pretrained: torchvision has no ImageNet weights for {name!r}") from None


def load_weights(net: nn.Module, path: Path, strict: bool) -> None:
    """Load a state dict saved with torch.save (tensors only); not `strict`: the last layer may differ."""
    if not path.is_file():
        raise ConfigError(f"--classifier-weights {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors come in many types
        raise CheckpointError(f"cannot load {path} as a weights-only state dict: {e}") from None
    try:
        missing, unexpected = net.load_state_dict(state.get("state_dict", state), strict=False)
    except (RuntimeError, AttributeError) as e:
        raise CheckpointError(f"{path} does not fit this network: {str(e).splitlines()[0]}") from None
    if unexpected or len(missing) > (0 if strict else 2):  # the head may differ; nothing else should
        raise CheckpointError(f"{path} does not fit this network (missing {missing[:5]}, unexpected {unexpected[:5]})")


def replace_head(net: nn.Module, num_classes: int) -> None:
    """Swap the last Linear layer for one with `num_classes` outputs."""
    name, last = [(n, m) for n, m in net.named_modules() if isinstance(m, nn.Linear)][-1]
    parent = net.get_submodule(name.rpartition(".")[0]) if "." in name else net
    setattr(parent, name.rpartition(".")[2], nn.Linear(last.in_features, num_classes))
