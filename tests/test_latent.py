"""Latent-space tools: lattice ranges, interpolation, fitted priors, k-NN scores and the latent command."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from threadpoolctl import threadpool_limits

from conftest import tiny_config
from deepgen.cli import main
from deepgen.data import to_float, to_uint8
from deepgen.latent import prior_fit
from deepgen.latent.embedding import knn_accuracy
from deepgen.latent.interpolate import lerp, random_walks, slerp, strips
from deepgen.latent.lattice import lattice
from deepgen.run import open_run
from deepgen.training.trainer import train


@pytest.fixture(autouse=True, scope="module")
def one_openmp_thread() -> Iterator[None]:
    """scikit-learn's OpenMP loops (t-SNE) crawl when other jobs load the CPU; the tiny inputs need one thread."""
    with threadpool_limits(1, user_api="openmp"):
        yield


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny trained runs on digits: a VAE (2-D codes), an AE (4-D codes) and a GAN."""
    root = tmp_path_factory.mktemp("latent_runs")
    return {name: train(tiny_config(name, root / name)).run for name in ("vae", "ae", "gan")}


def test_lattice_covers_the_stated_quantiles() -> None:
    rng = np.random.default_rng(0)
    codes = rng.normal([3.0, -1.0], [2.0, 0.5], size=(4000, 2))  # not centred: the AE case
    lat = lattice(codes, 7, quantiles=(0.1, 0.9))
    np.testing.assert_allclose([lat.u[0], lat.u[-1]], np.quantile(codes[:, 0], [0.1, 0.9]))
    np.testing.assert_allclose([lat.v[-1], lat.v[0]], np.quantile(codes[:, 1], [0.1, 0.9]))
    for axis, values in ((0, lat.u), (1, lat.v)):
        inside = (codes[:, axis] >= values.min()) & (codes[:, axis] <= values.max())
        assert inside.mean() == pytest.approx(0.8, abs=0.01)
    grid = lat.codes.numpy().reshape(7, 7, 2)
    assert np.allclose(grid[0, :, 1], lat.v[0]) and np.allclose(grid[:, 0, 0], lat.u[0])  # rows: v; columns: u

    prior = rng.normal(size=(20000, 2))
    lat = lattice(codes, 5, prior=prior)
    assert lat.span == "prior mean ± 2 sd" and np.allclose([lat.u[0], lat.u[-1]], [-2, 2], atol=0.05)


def test_lattice_of_wide_codes_lies_on_the_first_two_principal_directions() -> None:
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(3000, 6)) * np.array([5.0, 0.1, 3.0, 0.1, 0.1, 0.1]) + 1.0
    lat = lattice(codes, 5, quantiles=(0.05, 0.95))
    assert lat.axes == ("PC1", "PC2") and sum(lat.explained_variance) > 0.98
    moved = lat.codes.numpy() - lat.codes.numpy().mean(0)
    assert np.abs(moved[:, [1, 3, 4, 5]]).max() < 0.05  # the lattice spans dimensions 0 and 2 only
    np.testing.assert_allclose(
        np.ptp(lat.codes.numpy()[:, 0]), np.diff(np.quantile(codes[:, 0], [0.05, 0.95])), rtol=0.05
    )


def test_slerp_keeps_norms_of_unit_vectors() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = (torch.nn.functional.normalize(torch.randn(16, 8, generator=g), dim=1) for _ in range(2))
    t = torch.linspace(0, 1, 11)
    path = slerp(a, b, t)
    assert path.shape == (16, 11, 8)
    torch.testing.assert_close(path.norm(dim=2), torch.ones(16, 11))
    torch.testing.assert_close(path[:, 0], a), torch.testing.assert_close(path[:, -1], b)
    assert lerp(a, b, t)[:, 5].norm(dim=1).max() < 0.999  # the straight line cuts inside the sphere
    same = slerp(a, a.clone(), t)  # parallel: no division by zero
    assert torch.isfinite(same).all() and torch.allclose(same, a[:, None].expand_as(same))


def test_random_walks_pass_through_their_starts() -> None:
    start = torch.randn(4, 5)
    walks = random_walks(start, 7, 3.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(walks[:, 3], start)
    torch.testing.assert_close((walks[:, -1] - walks[:, 0]).norm(dim=1), torch.full((4,), 6.0))


@pytest.mark.parametrize("mode", ["linear", "spherical"])
def test_interpolation_ends_decode_to_the_reconstructions_of_the_end_images(runs: dict[str, Path], mode: str) -> None:
    from deepgen.data import load_data

    opened = open_run(runs["ae"]).load(torch.device("cpu"))
    test = load_data(opened.config.data).test
    s = strips(opened.model, 3, 6, mode, seed=0, images=test.images)
    assert s.images.shape == (3, 6, *test.shape) and s.ends.shape == (3, 2, *test.shape)
    with torch.no_grad():
        for end, column in ((0, 0), (1, -1)):
            expected = to_uint8(opened.model.reconstruct(to_float(s.ends[:, end])))
            assert (s.images[:, column].int() - expected.int()).abs().max() <= 1
    assert not torch.equal(s.images[:, 0], s.images[:, -1])


def test_fitted_gaussian_and_mixture_samples_have_the_fitted_moments() -> None:
    rng = np.random.default_rng(0)
    cov = np.array([[2.0, 0.8, 0.0], [0.8, 1.0, -0.3], [0.0, -0.3, 0.5]])
    codes = rng.multivariate_normal([1.0, -2.0, 0.5], cov, size=5000)
    gaussian = prior_fit.fit(codes)
    np.testing.assert_allclose(gaussian.means_[0], codes.mean(0), atol=1e-6)
    np.testing.assert_allclose(gaussian.covariances_[0], np.cov(codes.T, bias=True), atol=1e-4)
    draws = prior_fit.draw(gaussian, 40000, seed=1).numpy()
    np.testing.assert_allclose(draws.mean(0), gaussian.means_[0], atol=0.03)
    np.testing.assert_allclose(np.cov(draws.T), gaussian.covariances_[0], atol=0.05)

    blobs = np.concatenate([codes, rng.normal([6.0, 6.0, 6.0], 0.3, size=(2500, 3))])
    mixture = prior_fit.fit(blobs, components=2, seed=0)
    w, mu, sigma = mixture.weights_, mixture.means_, mixture.covariances_
    mean = w @ mu
    second = np.einsum("k,kij->ij", w, sigma + np.einsum("ki,kj->kij", mu, mu))
    draws = prior_fit.draw(mixture, 40000, seed=2).numpy()
    np.testing.assert_allclose(draws.mean(0), mean, atol=0.05)
    np.testing.assert_allclose(np.cov(draws.T), second - np.outer(mean, mean), atol=0.15)
    assert not torch.equal(prior_fit.draw(mixture, 10, seed=3), prior_fit.draw(mixture, 10, seed=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # float32 codes (what encoders give) must not trip numpy's PSD check
        prior_fit.draw(prior_fit.fit(blobs.astype(np.float32), components=10, seed=0), 1000, seed=0)


def test_knn_accuracy_is_one_on_one_hot_labels_and_chance_on_noise() -> None:
    labels = np.repeat(np.arange(10), 20)
    assert knn_accuracy(np.eye(10)[labels], labels) == 1.0
    assert knn_accuracy(np.random.default_rng(0).normal(size=(200, 2)), labels) < 0.3


def test_latent_command_writes_figures_and_scores(runs: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    out = runs["vae"] / "latent"
    args = ["latent", str(runs["vae"]), "--compare-with", str(runs["ae"]), "--max-points", "150", "--grid", "5"]
    assert main([*args, "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "latent.json" in printed
    summary = json.loads((out / "latent.json").read_text())
    assert summary["test_points"] == 150
    names = set(summary["embeddings"])
    assert names == {"pixels · PCA", "pixels · t-SNE", "vae latent", "ae · PCA", "ae · t-SNE"}
    for scores in summary["embeddings"].values():
        assert 0 <= scores["knn_accuracy"] <= 1 and 0 <= scores["trustworthiness"] <= 1
    assert summary["embeddings"]["pixels · t-SNE"]["knn_accuracy"] > 0.5  # digits separate well in t-SNE
    assert summary["lattice"]["span"] == "prior mean ± 2 sd" and summary["lattice"]["size"] == 5
    assert set(summary["fitted_priors"]) == {"fit_points", "vae", "ae"}
    for name in ("embedding", "manifold", "interpolations", "walks", "sampling"):
        assert Image.open(summary["files"][name]).size[0] > 300


def test_latent_command_on_a_gan_and_on_bad_options(runs: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    out = runs["gan"].parent / "gan_latent"
    assert main(["latent", str(runs["gan"]), "--out", str(out), "--grid", "3", "--device", "cpu"]) == 0
    summary = json.loads((out / "latent.json").read_text())
    assert "embeddings" not in summary and set(summary["files"]) == {"manifold", "interpolations", "walks"}
    assert summary["interpolation"]["between"] == "prior draws"

    capsys.readouterr()
    assert main(["latent", str(runs["ae"]), "--components", "1000000000", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "--components 1000000000: the mixture is fitted to the codes of 1437 training images" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["latent", str(runs["ae"]), "--span", "prior", "--device", "cpu"]) == 2
    assert "has no prior" in capsys.readouterr().err
    assert main(["latent", str(runs["ae"]), "--quantiles", "0.9", "0.1"]) == 2
    assert "--quantiles" in capsys.readouterr().err


def test_latent_command_at_the_fewest_points(runs: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    """--max-points 20 (its floor) on 64-pixel images: t-SNE's PCA reduction takes at most one direction per point."""
    out = runs["ae"].parent / "ae_latent_20"
    assert main(["latent", str(runs["ae"]), "--max-points", "20", "--grid", "3", "--out", str(out)]) == 0
    summary = json.loads((out / "latent.json").read_text())
    assert summary["test_points"] == 20 and set(summary["embeddings"]) >= {"pixels · t-SNE", "ae · t-SNE"}


def test_sample_interpolate_writes_strips(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["sample", str(runs["ae"]), "--interpolate", "3", "--out", str(tmp_path / "ae.png")]) == 0
    assert "encoded test images" in capsys.readouterr().out
    assert Image.open(tmp_path / "ae.png").size == (10 * 10 + 2, 3 * 10 + 2)  # 3 strips of 10 images of 8 px
    assert main(["sample", str(runs["gan"]), "--interpolate", "2", "--out", str(tmp_path / "gan.npz")]) == 0
    assert np.load(tmp_path / "gan.npz")["images"].shape == (2, 10, 1, 8, 8)
    assert main(["sample", str(runs["gan"]), "--interpolate", "2", "--out", str(tmp_path / "strips")]) == 0
    assert len(list((tmp_path / "strips").glob("strip_*.png"))) == 2
