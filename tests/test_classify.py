"""The classifier package: registry, pretrained backbones (offline), class balance, the one fit loop."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torchvision

from deepgen.classify.backbones import Backbone
from deepgen.classify.config import FitConfig
from deepgen.classify.fit import TrainingSet, class_weights, fit, supervised_loss
from deepgen.classify.zoo import build_classifier
from deepgen.data.imageset import ImageSet
from deepgen.errors import ConfigError, DeepgenError
from deepgen.registry import classifiers, get_classifier

RESNET18_FILE = "resnet18-f37072fd.pth"  # the file name of torchvision's ImageNet ResNet-18 weights


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache and no network: a download attempt fails the test unless a test replaces it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", pytest.fail)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_the_registry_lists_every_classifier() -> None:
    assert list(classifiers()) == ["resnet18", "sae", "small-cnn", "timm", "torchvision"]
    assert [e.name for e in classifiers().values() if e.pretrained] == ["torchvision"]
    assert classifiers()["sae"].build  # a builder for each
    entry, variant = get_classifier("torchvision:resnet18")
    assert entry.usage == "torchvision:NAME" and variant == "resnet18"
    with pytest.raises(ConfigError, match="write it as torchvision:NAME"):
        get_classifier("torchvision")
    with pytest.raises(ConfigError, match="Did you mean 'small-cnn'"):
        get_classifier("small-cn")
    shapes = {
        name: build_classifier(name, (1, 16, 16), 3)(torch.zeros(2, 1, 16, 16)).shape
        for name in ("small-cnn", "sae", "resnet18")
    }
    assert set(shapes.values()) == {(2, 3)}
    assert (
        build_classifier("sae", (1, 16, 16), 3).pretrains
        and not build_classifier("small-cnn", (1, 16, 16), 3).pretrains
    )


def test_pretrained_weights_load_offline_from_the_torch_hub_cache(hub: Path) -> None:
    torch.manual_seed(0)
    imagenet = torchvision.models.resnet18(weights=None).state_dict()  # stands in for the ImageNet weights
    hub.mkdir(parents=True)
    torch.save(imagenet, hub / RESNET18_FILE)
    net = build_classifier("torchvision:resnet18", (1, 28, 28), 4, pretrained=True)
    assert isinstance(net, Backbone) and net.size == 224  # torchvision's preset: 224 px crops
    assert torch.equal(net.net.conv1.weight, imagenet["conv1.weight"]) and net.net.fc.out_features == 4
    assert torch.allclose(net.mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))
    gray = torch.rand(2, 1, 28, 28) * 2 - 1
    net.eval()
    assert torch.allclose(net(gray), net(gray.expand(-1, 3, -1, -1)))  # grey images are repeated to 3 channels
    local = hub.parent / "elsewhere.pth"
    torch.save(imagenet, local)
    assert torch.equal(
        build_classifier("torchvision:resnet18", (1, 28, 28), 4, local, pretrained=True).net.layer1[0].conv1.weight,
        imagenet["layer1.0.conv1.weight"],
    )


def test_missing_pretrained_weights_name_the_file_and_where_to_put_it(
    hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(DeepgenError) as error:
        build_classifier("torchvision:resnet18", (1, 28, 28), 4, pretrained=True)
    message = str(error.value)
    assert f"{hub / RESNET18_FILE} are missing and could not be downloaded (URLError" in message
    assert f"put it at {hub / RESNET18_FILE}" in message and "--classifier-weights PATH" in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match="small-cnn has no ImageNet weights"):
        build_classifier("small-cnn", (1, 28, 28), 4, pretrained=True)


def test_class_balance_weights_each_class_equally() -> None:
    labels = torch.tensor([0] * 6 + [1] * 2)
    weights = class_weights(labels, 3)
    assert weights.tolist() == pytest.approx([8 / 12, 8 / 4, 0.0])  # N / (classes present * count)
    assert weights[labels].mean() == pytest.approx(1.0)
    assert (weights[labels] * (labels == 0)).sum() == pytest.approx((weights[labels] * (labels == 1)).sum())


def test_balanced_training_stops_predicting_the_majority_class() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.cat([torch.full((90, 1, 8, 8), 100), torch.full((10, 1, 8, 8), 140)]).to(torch.uint8)
    images = (images.int() + torch.randint(-40, 41, images.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    data = ImageSet(images, torch.tensor([0] * 90 + [1] * 10), ["common", "rare"])
    recall = {}
    for balance in (False, True):
        torch.manual_seed(0)
        model = build_classifier("small-cnn", (1, 8, 8), 2)
        fit(model, data, FitConfig(max_steps=30, batch_size=20, balance=balance), "cpu", 0)
        rare = model(torch.full((50, 1, 8, 8), 140 / 127.5 - 1)).argmax(1)
        recall[balance] = (rare == 1).float().mean().item()
    assert recall[True] > recall[False]


def test_soft_labels_and_weights_enter_the_loss() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1])
    hard = supervised_loss(logits, labels, None, None)
    one_hot = torch.nn.functional.one_hot(labels, 2).float()
    assert supervised_loss(logits, labels, one_hot, None) == pytest.approx(hard.item())
    per_image = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    assert supervised_loss(logits, labels, None, torch.tensor([1.0, 0.0])) == pytest.approx(per_image[0].item() / 2)
    data = ImageSet(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), labels, ["a", "b"])
    generated = TrainingSet(data, torch.full((2, 2), 0.5), torch.full((2,), 0.3), torch.ones(2, dtype=torch.bool))
    both = TrainingSet(data) + generated
    assert torch.equal(both.targets[:2], one_hot) and both.weights.tolist() == pytest.approx([1, 1, 0.3, 0.3])
    assert both.generated.tolist() == [False, False, True, True] and both.n_generated == 2
    plain = TrainingSet(data) + TrainingSet(data)
    assert plain.targets is None and plain.weights is None and plain.n_generated == 0 and len(plain) == 4
