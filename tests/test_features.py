"""Feature extractors: the cached classifier evaluator (named by data and hash) and Inception-v3 from
local weights only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch_fidelity import feature_extractor_inceptionv3 as fidelity_inception

from deepgen.cli import main
from deepgen.config import DataConfig
from deepgen.data import load_data
from deepgen.errors import ConfigError, DeepgenError
from deepgen.eval.evaluator import Recipe, evaluator_name, get_evaluator
from deepgen.eval.features import InceptionFeatures

RECIPE = Recipe(steps=150, batch_size=64)  # as in test_metrics: trained once per session


@pytest.fixture
def cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path_factory.getbasetemp() / "deepgen-cache"
    monkeypatch.setenv("DEEPGEN_CACHE", str(root))
    return root / "evaluators"


def test_classifier_evaluator_is_cached_by_data_and_hash(cache: Path) -> None:
    splits = load_data(DataConfig(data="digits"))
    logs: list[str] = []
    first = get_evaluator(splits, RECIPE, log=logs.append)
    again = get_evaluator(splits, RECIPE, log=logs.append)
    assert sum("training evaluator" in line for line in logs) <= 1  # trained once per session, then cached
    assert sum(f"evaluator {first.info['name']}: test accuracy" in line for line in logs) == 2  # each time
    assert (cache / first.info["name"] / "model.safetensors").is_file()
    assert first.info["name"].startswith("digits-1x8x8-") and first.info["test_accuracy"] > 0.9
    images = splits.test.images[:50]
    features = first.extract(images)
    assert features.shape == (50, first.num_features) == (50, 128)
    assert torch.equal(features, again.extract(images))  # loaded from the cache, same network
    assert torch.equal(first.logits(images).argmax(1), again.logits(images).argmax(1))
    # anything that changes the training split changes the name: split seed, image size, recipe
    assert evaluator_name(load_data(DataConfig(data="digits", split_seed=1)), RECIPE) != first.info["name"]
    assert evaluator_name(load_data(DataConfig(data="digits", image_size=16)), RECIPE).startswith("digits-1x16x16-")
    assert evaluator_name(splits, Recipe(steps=151, batch_size=64)) != first.info["name"]
    with pytest.raises(ConfigError, match="1x16x16.*trained on 1x8x8"):
        first.check((1, 16, 16), "the generated images")


def test_evaluator_command_trains_once_and_lists(cache: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["evaluator", "train", "--data", "digits", "--steps", "20", "--device", "cpu"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "saved in:" in out and str(cache) in out and "classifier:digits" in out
    assert main(args) == 0 and "training evaluator" not in capsys.readouterr().out  # cached
    assert main(["evaluator", "list"]) == 0 and "digits-1x8x8-" in capsys.readouterr().out
    assert main(["evaluator", "train", "--data", "digits", "--image-size", "big"]) == 2
    assert "image_size" in capsys.readouterr().err


def test_inception_needs_local_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(fidelity_inception, "load_state_dict_from_url", pytest.fail)  # never downloads
    with pytest.raises(DeepgenError, match="not found locally.*--inception-weights PATH"):
        InceptionFeatures()
    with pytest.raises(DeepgenError, match="does not exist"):
        InceptionFeatures(tmp_path / "nowhere.pth")


def test_inception_features_from_a_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:  # a randomly initialised network stands in for the real weights
        m.setattr(fidelity_inception, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(fidelity_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        net = fidelity_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    torch.save(net.state_dict(), tmp_path / "weights.pth")
    features = InceptionFeatures(tmp_path / "weights.pth")
    gray = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    out = features.extract(gray)
    assert out.shape == (2, 2048) and out.dtype == torch.float32
    assert torch.allclose(out, features.extract(gray.expand(-1, 3, -1, -1)))  # grayscale = repeated RGB

    torch.save({"weights": Path("x")}, tmp_path / "pickled.pth")  # an arbitrary object: refused
    with pytest.raises(DeepgenError, match="refusing to load .*could run code"):
        InceptionFeatures(tmp_path / "pickled.pth")
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(DeepgenError, match="cannot load Inception-v3 weights"):
        InceptionFeatures(tmp_path / "broken.pth")
