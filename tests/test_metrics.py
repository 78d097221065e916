"""Metrics that bite: FID/KID near 0 for halves of one real set and growing with distortion; precision
and recall that fall for off-manifold or partial samples; mode collapse flagged; CAS near the real-data
accuracy for real data; the importance-weighted bound tighter than the ELBO."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_prc import calculate_precision_recall_full
from torchvision.transforms.v2 import functional as TF

from conftest import tiny_config
from deepgen.config import DataConfig
from deepgen.data import load_data
from deepgen.data.imageset import ImageSet, to_float
from deepgen.eval.evaluate import Judge, reconstruction_metrics
from deepgen.eval.metrics import (
    density_coverage,
    frechet_distance,
    kernel_distance,
    mode_coverage,
    precision_recall,
)
from deepgen.eval.settings import Recipe, Settings
from deepgen.models.base import GenerativeModel
from deepgen.run import WEIGHTS
from deepgen.training.trainer import train
from deepgen.weights import build_model

RECIPE = Recipe(steps=150, batch_size=64)  # the digits evaluator shared by the eval tests (cached per session)


@pytest.fixture(scope="module")
def judge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Judge]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPGEN_CACHE", str(tmp_path_factory.getbasetemp() / "deepgen-cache"))
        yield Judge(DataConfig(data="digits"), Settings(device="cpu", recipe=RECIPE, cas_steps=100), log=lambda _: None)


@pytest.fixture(scope="module")
def halves(judge: Judge) -> tuple[Tensor, Tensor, Tensor]:
    """Two halves of all digits images (features of the first, images and labels of the second)."""
    images = torch.cat([judge.splits.train.images, judge.splits.test.images])
    labels = torch.cat([judge.splits.train.labels, judge.splits.test.labels])
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    a, b = order[: len(order) // 2], order[len(order) // 2 :]
    return judge.features.extract(images[a]), images[b], labels[b]


def noised(images: Tensor, std: float) -> Tensor:
    noise = std * torch.randn(images.shape, generator=torch.Generator().manual_seed(1))
    return (images.float() + noise).round().clamp(0, 255).to(torch.uint8)


def test_fid_and_kid_are_near_zero_for_real_halves_and_grow_with_distortion(judge: Judge, halves: tuple) -> None:
    real, other, _ = halves
    same = judge.features.extract(other)
    fid0, (kid0, _) = frechet_distance(real, same), kernel_distance(real, same, seed=0, subsets=10)
    blurred = [judge.features.extract(TF.gaussian_blur(other, [5, 5], [s, s])) for s in (0.5, 0.8, 1.2, 2.0)]
    noisy = [judge.features.extract(noised(other, s)) for s in (25, 50, 100)]
    for distorted in (blurred, noisy):
        fids = [fid0] + [frechet_distance(real, f) for f in distorted]
        kids = [kid0] + [kernel_distance(real, f, seed=0, subsets=10)[0] for f in distorted]
        assert fids == sorted(fids) and kids == sorted(kids), (fids, kids)
        assert fids[-1] > 50 * fid0 and kids[-1] > 1.0
    assert fid0 < 1.0 and abs(kid0) < 0.05
    # the same numbers as torch-fidelity's FID on the same features
    reference = fid_statistics_to_metric(
        fid_features_to_statistics(real.double()), fid_features_to_statistics(blurred[1].double()), False
    )["frechet_inception_distance"]
    assert frechet_distance(real, blurred[1]) == pytest.approx(reference, rel=1e-6)
    assert kernel_distance(real, blurred[1], 3, subsets=5) == kernel_distance(real, blurred[1], 3, subsets=5)


def test_precision_falls_off_manifold_and_recall_falls_with_missing_classes(judge: Judge, halves: tuple) -> None:
    real, other, labels = halves
    same = precision_recall(real, judge.features.extract(other))
    off = precision_recall(real, judge.features.extract(noised(other, 100)))
    few = precision_recall(real, judge.features.extract(other[labels < 3]))
    assert min(same) > 0.85
    assert off[0] < 0.5 * same[0]  # precision: noise lies off the real manifold
    assert few[1] < 0.4 and few[0] > 0.85  # recall: three classes of ten cover a third of it
    density, coverage = density_coverage(real, judge.features.extract(other))
    assert 0.8 < density < 1.2 and coverage > 0.9
    assert density_coverage(real, judge.features.extract(other[labels < 3]))[1] < 0.4


def test_precision_recall_match_torch_fidelity() -> None:
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(300, 16, generator=g), 0.7 * torch.randn(200, 16, generator=g) + 0.5
    assert precision_recall(real, fake, k=3) == pytest.approx(calculate_precision_recall_full(fake, real, 3))


def test_mode_coverage_of_class_histograms() -> None:
    balanced = torch.eye(10).repeat(50, 1)
    one_class = torch.eye(10)[[3] * 500]
    assert mode_coverage(balanced)["kl_to_uniform"] == pytest.approx(0.0, abs=1e-9)
    assert not mode_coverage(balanced)["collapsed"]
    report = mode_coverage(one_class)
    assert report["collapsed"] and report["missed_classes"] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert report["kl_to_uniform"] == pytest.approx(report["max_kl"])


class Replay(GenerativeModel):
    """A 'generator' that replays real images, optionally of some classes only."""

    name, can_sample = "replay", True

    def __init__(self, data: ImageSet, classes: list[int]):
        super().__init__(None, data.shape, data.classes)
        keep = torch.isin(data.labels, torch.tensor(classes))
        self.images = data.images[keep]
        self.anchor = nn.Parameter(torch.zeros(1))

    def prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randint(len(self.images), (n,), generator=generator)

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return to_float(self.images[z])


def test_a_generator_of_one_class_is_flagged_as_collapsed(judge: Judge) -> None:
    def modes(classes: list[int]) -> dict:
        metrics = {m.name: m for m in judge.model_metrics(Replay(judge.splits.train, classes))}
        return metrics["mode_kl"].value, metrics["mode_kl"].extra, metrics

    kl, extra, metrics = modes([7])
    assert extra["collapsed"] and "7" not in extra["missed_classes"] and len(extra["missed_classes"]) == 9
    assert kl > 1.5 and "COLLAPSED" in metrics["mode_kl"].note
    kl, extra, metrics = modes(list(range(10)))
    assert not extra["collapsed"] and kl < 0.05
    assert metrics["fid"].features == "classifier:digits" and metrics["fid"].n_generated == judge.n
    assert metrics["near_copies"].value == 1.0  # the replayed images are the training images


def test_cas_of_real_held_out_data_is_near_the_real_data_accuracy(judge: Judge) -> None:
    train, n = judge.splits.train, 300
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(judge.settings.seed))
    held_out = train.subset(order[n : 2 * n])  # disjoint from the baseline's images (the first n)
    cas = judge.cas(held_out.images, held_out.labels)
    assert cas.extra["real_data_accuracy"] > 0.85
    assert abs(cas.value - cas.extra["real_data_accuracy"]) < 0.06
    shuffled = held_out.labels[torch.randperm(n, generator=torch.Generator().manual_seed(1))]
    assert judge.cas(held_out.images, shuffled).value < 0.4


def test_importance_weighted_bound_is_tighter_than_the_elbo(tmp_path: Path) -> None:
    result = train(tiny_config("vae", tmp_path / "vae", steps=30))
    model, _ = build_model(result.checkpoint / WEIGHTS, torch.device("cpu"))
    test = digits_test()
    x = to_float(test.images)

    def bound(k: int, seed: int = 0) -> float:
        return model.importance_weighted_nll(x, k, torch.Generator().manual_seed(seed)).mean().item()

    assert bound(64) < bound(8) < bound(1)
    elbo = sum(bound(1, seed) for seed in range(10)) / 10  # k=1 is the negative ELBO
    assert elbo == pytest.approx(model.evaluate(test)["neg_elbo"], rel=0.02)


def digits_test() -> ImageSet:
    return load_data(DataConfig(data="digits")).test


class Identity(GenerativeModel):
    name, can_sample, can_encode = "identity", False, True

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__(None, shape, [])
        self.anchor = nn.Parameter(torch.zeros(1))

    def encode(self, x: Tensor) -> Tensor:
        return x

    def decode(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return z


def test_perfect_reconstructions_score_perfectly() -> None:
    test = digits_test()
    metrics = {m.name: m.value for m in reconstruction_metrics(Identity(test.shape), test, seed=0, iw_samples=64)}
    assert metrics["recon_mse"] == 0 and metrics["recon_ssim"] == pytest.approx(1.0) and metrics["recon_psnr"] >= 99
    assert "iw_nll_k64" not in metrics
