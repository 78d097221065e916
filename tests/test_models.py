"""One tester for every registered model: shapes, gradients, save/load, a short training run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from conftest import TINY_MODEL, tiny_config
from deepgen.config import DataConfig, build
from deepgen.data import load_data, to_float
from deepgen.data.loader import Batch
from deepgen.losses import kl_to_standard_normal
from deepgen.registry import models
from deepgen.run import WEIGHTS
from deepgen.training.trainer import train
from deepgen.weights import build_model

SHAPES = [(1, 28, 28), (3, 32, 32), (1, 8, 8)]


def tiny_model(name: str, shape: tuple[int, int, int], **options: object) -> torch.nn.Module:
    cls = models()[name]
    config = build(cls.Config, {**TINY_MODEL.get(name, {}), **options}, "test")
    torch.manual_seed(0)
    return cls(config, shape, [str(i) for i in range(10)])


def batch(shape: tuple[int, int, int], n: int = 6) -> Batch:
    g = torch.Generator().manual_seed(1)
    return Batch(torch.rand(n, *shape, generator=g) * 2 - 1, torch.arange(n) % 10)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(models()))
def test_shapes_ranges_and_gradients(name: str, shape: tuple[int, int, int]) -> None:
    model = tiny_model(name, shape)
    phases = model.phases()
    b = batch(shape)
    for phase in phases:
        out = model.loss(phase.name, b)
        total = sum(out.terms.values())
        assert total.ndim == 0 and torch.isfinite(total)
        total.backward()
        params = [p for g in phase.optimizer.param_groups for p in g["params"]]
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    model.eval()
    with torch.no_grad():
        if model.can_sample:
            images = model.sample(5, generator=torch.Generator().manual_seed(0))
            assert images.shape == (5, *shape) and images.min() >= -1 and images.max() <= 1
        if model.can_encode:
            r = model.reconstruct(b.x)
            assert r.shape == b.x.shape and r.min() >= -1 and r.max() <= 1


@pytest.mark.parametrize("name", sorted(models()))
def test_train_save_and_rebuild_from_weights(name: str, tmp_path: Path) -> None:
    result = train(tiny_config(name, tmp_path / "run"))
    assert result.step == 6
    rebuilt, meta = build_model(result.checkpoint / WEIGHTS, torch.device("cpu"))
    assert meta["model"] == name and meta["step"] == 6 and tuple(meta["shape"]) == (1, 8, 8)
    assert dataclasses.asdict(rebuilt.config) == meta["model_config"]
    x = batch((1, 8, 8)).x
    rebuilt.eval()
    again, _ = build_model(result.checkpoint / WEIGHTS, torch.device("cpu"))
    again.eval()
    with torch.no_grad():
        if rebuilt.can_encode:
            assert torch.equal(rebuilt.reconstruct(x), again.reconstruct(x))
        if rebuilt.can_sample:
            g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
            assert torch.equal(rebuilt.sample(4, generator=g()), again.sample(4, generator=g()))


@pytest.mark.parametrize("name", ["ae", "vae"])
@pytest.mark.parametrize("arch", ["conv", "dense"])
def test_loss_decreases_on_a_fixed_batch(name: str, arch: str) -> None:
    model = tiny_model(name, (1, 8, 8), arch=arch)
    (phase,) = model.phases()
    digits = load_data(DataConfig(data="digits")).train
    b = Batch(to_float(digits.images[:32]), digits.labels[:32])
    losses = []
    for _ in range(200):
        total = sum(model.loss(phase.name, b).terms.values())
        phase.optimizer.zero_grad()
        total.backward()
        phase.optimizer.step()
        losses.append(total.item())
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])


def test_kl_matches_torch_distributions() -> None:
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = torch.distributions.kl_divergence(q, p).sum(1)
    assert torch.allclose(kl_to_standard_normal(mu, logvar), expected, atol=1e-5)


def test_denoising_autoencoder_corrupts_its_input_only() -> None:
    model = tiny_model("ae", (1, 8, 8), noise_std=0.5)
    seen = []
    model.encoder.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    b = batch((1, 8, 8))
    model.loss("ae", b)
    assert not torch.equal(seen[0], b.x) and seen[0].min() >= -1 and seen[0].max() <= 1
    model.reconstruct(b.x)
    assert torch.equal(seen[1], b.x)


def test_vae_with_a_two_dimensional_latent() -> None:
    model = tiny_model("vae", (1, 28, 28), latent_dim=2)
    assert model.encode(batch((1, 28, 28)).x).shape == (6, 2)
    assert model.sample(3).shape == (3, 1, 28, 28)


@pytest.mark.parametrize("name", sorted(n for n, cls in models().items() if cls.can_encode))
def test_encoders_vary_images_through_their_code(name: str) -> None:
    model = tiny_model(name, (1, 8, 8)).eval()
    x = batch((1, 8, 8)).x
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    with torch.no_grad():
        assert model.can_vary and torch.equal(model.vary(x, 0.0, g()), model.reconstruct(x))
        varied = model.vary(x, 0.8, g())
        assert varied.shape == x.shape and varied.min() >= -1 and varied.max() <= 1
        assert torch.equal(varied, model.vary(x, 0.8, g())) and not torch.equal(varied, model.reconstruct(x))
