"""Feature extractors: the cached classifier evaluator (named by data and hash) and Inception-v3 from the
torch hub cache (downloads are simulated: no test touches the network) or a given file."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from torch_fidelity import feature_extractor_inceptionv3 as fidelity_inception

from deepgen.classify.fit import EarlyStopping, predict
from deepgen.classify.small_cnn import train_classifier
from deepgen.cli import main
from deepgen.config import DataConfig
from deepgen.data import load_data
from deepgen.data.imageset import ImageSet
from deepgen.errors import ConfigError, DeepgenError
from deepgen.eval.evaluator import (
    WEAK_ACCURACY,
    Recipe,
    accuracy_label,
    evaluator_name,
    get_evaluator,
    weak_warning,
)
from deepgen.eval.features import INCEPTION_URL, InceptionFeatures

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
    assert "--image-size" in capsys.readouterr().err


def test_evaluator_stops_early_when_validation_accuracy_plateaus() -> None:
    images = torch.cat([torch.zeros(64, 1, 8, 8), torch.full((64, 1, 8, 8), 255)]).to(torch.uint8)
    data = ImageSet(images, torch.arange(128) // 64, ["dark", "light"])  # separable at once: 100% stays 100%
    early = EarlyStopping(data.subset(torch.arange(0, 128, 8)), every=5, patience=3)
    cnn = train_classifier(data, steps=500, batch_size=32, width=8, early=early, outlier_weight=0.0)
    assert early.best == 1.0 and early.steps == early.best_step + 3 * 5 < 500  # three checks without a gain
    assert not cnn.training and torch.equal(predict(cnn, images).argmax(1), data.labels)


def test_evaluator_recipe_is_sized_to_the_data() -> None:
    mnist_folder = Recipe().sized(3168, 28)
    assert (mnist_folder.steps, mnist_folder.width, mnist_folder.eval_every) == (495, 32, 12)  # 20 epochs
    assert Recipe().sized(3168, 64).width == 16 and Recipe().sized(3168, 48).width == 24  # cost of a step ~ 32 px
    assert Recipe().sized(100, 28).steps == 200 and Recipe().sized(100, 28).batch_size == 100  # at least 200 steps
    assert Recipe().sized(10**6, 28).steps == 2000 and Recipe(steps=7, width=8).sized(10**6, 28).steps == 7


def test_a_weak_evaluator_is_flagged(cache: Path, capsys: pytest.CaptureFixture) -> None:
    logs: list[str] = []
    weak = get_evaluator(load_data(DataConfig(data="digits")), Recipe(steps=1), log=logs.append)
    assert weak.info["test_accuracy"] < WEAK_ACCURACY and weak.info["steps"] == 1
    assert logs[-1].startswith(f"warning: evaluator {weak.info['name']} classifies only ")
    assert "evaluator:" in capsys.readouterr().err  # its progress bar
    assert weak_warning(weak) in logs[-1] and accuracy_label(0.5).endswith("WEAK: below 0.8")


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state dict of torch-fidelity's FID Inception-v3, randomly initialised: it stands in for the real weights."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(fidelity_inception, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(fidelity_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        net = fidelity_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("inception") / "weights.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, and no network: any download attempt fails the test unless a test replaces it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", pytest.fail)
    monkeypatch.setattr(fidelity_inception, "load_state_dict_from_url", pytest.fail)
    return tmp_path / "torch" / "hub" / "checkpoints" / INCEPTION_URL.rsplit("/", 1)[1]


def test_inception_weights_load_from_the_torch_hub_cache(inception_file: Path, torch_home: Path) -> None:
    torch_home.parent.mkdir(parents=True)
    shutil.copy(inception_file, torch_home)  # where torch-fidelity itself caches them
    features = InceptionFeatures()
    gray = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    out = features.extract(gray)
    assert out.shape == (2, 2048) and out.dtype == torch.float32
    assert torch.allclose(out, features.extract(gray.expand(-1, 3, -1, -1)))  # grayscale = repeated RGB


def test_inception_weights_are_downloaded_into_the_cache_once(
    inception_file: Path, torch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        calls.append((url, Path(dst), hash_prefix))
        shutil.copy(inception_file, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    InceptionFeatures()
    InceptionFeatures()
    assert calls == [(INCEPTION_URL, torch_home, "6726825d")]  # torch-fidelity's file, hash checked, once


def test_missing_inception_weights_name_the_file(
    tmp_path: Path, torch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(DeepgenError) as error:
        InceptionFeatures()
    message = str(error.value)
    assert f"weights {torch_home} are missing and could not be downloaded (URLError" in message
    assert f"put it at {torch_home}" in message and INCEPTION_URL in message and "\n" not in message
    with pytest.raises(DeepgenError, match=f"--inception-weights {tmp_path / 'nowhere.pth'} does not exist"):
        InceptionFeatures(tmp_path / "nowhere.pth")  # a file given is never downloaded


def test_inception_features_from_a_given_file(tmp_path: Path, inception_file: Path, torch_home: Path) -> None:
    features = InceptionFeatures(inception_file)
    assert features.extract(torch.zeros(1, 3, 16, 16, dtype=torch.uint8)).shape == (1, 2048)
    torch.save({"weights": Path("x")}, tmp_path / "pickled.pth")  # an arbitrary object: refused
    with pytest.raises(DeepgenError, match="refusing to load .*could run code"):
        InceptionFeatures(tmp_path / "pickled.pth")
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(DeepgenError, match="cannot load Inception-v3 weights"):
        InceptionFeatures(tmp_path / "broken.pth")
