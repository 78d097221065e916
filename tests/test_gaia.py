"""GAIA: interpolations between codes, BEGAN balancing, the fitted sampling Gaussian, training on MNIST."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from conftest import TINY_MODEL, tiny_config
from deepgen.config import RunConfig, build
from deepgen.data.loader import Batch
from deepgen.registry import get_model
from deepgen.run import WEIGHTS, latest_checkpoint
from deepgen.training.trainer import train
from deepgen.weights import build_model

SHAPE = (1, 8, 8)


def tiny_gaia(**options: object) -> nn.Module:
    cls = get_model("gaia")
    torch.manual_seed(0)
    return cls(build(cls.Config, {**TINY_MODEL["gaia"], **options}, "test"), SHAPE, [str(i) for i in range(10)])


def image_batch(n: int = 16) -> Batch:
    g = torch.Generator().manual_seed(1)
    return Batch(torch.rand(n, *SHAPE, generator=g) * 2 - 1, torch.zeros(n, dtype=torch.long))


def test_interpolated_codes_lie_between_the_pairs_codes() -> None:
    model = tiny_gaia(alpha_std=0.5)
    torch.manual_seed(0)
    z = torch.randn(64, 4)
    mixed, alpha = model.interpolate(z)
    partner = z.roll(1, 0)
    assert ((alpha >= 0) & (alpha <= 1)).all() and ((alpha > 0) & (alpha < 1)).sum() > 32
    assert (mixed >= torch.minimum(z, partner) - 1e-6).all() and (mixed <= torch.maximum(z, partner) + 1e-6).all()
    assert torch.allclose(mixed, z + alpha[:, None] * (partner - z))
    assert not torch.allclose(mixed, z) and not torch.allclose(mixed, partner)


def test_the_decoded_interpolations_are_of_the_encoders_codes() -> None:
    model, x = tiny_gaia(), image_batch().x
    torch.manual_seed(3)
    z, _, x_i = model.generate(x)
    torch.manual_seed(3)
    z_i, _ = model.interpolate(model.encode(x))
    assert torch.allclose(z, model.encode(x)) and torch.allclose(x_i, model.decode(z_i))


def test_k_follows_the_began_balance_and_weights_the_fake_term() -> None:
    model = tiny_gaia(gamma=1.5, lambda_k=0.1)
    model.k.fill_(0.5)
    out = model.loss("D", image_batch())
    d_x, d_fake = out.terms["d_x"].item(), (out.stats["d_xg"] + out.stats["d_xi"]).item() / 2
    assert out.stats["k"].item() == 0.5 and out.terms["d_fake"].item() == pytest.approx(-0.5 * d_fake, rel=1e-5)
    model.after_step("D")
    expected = min(max(0.5 + 0.1 * (1.5 * d_x - d_fake), 0.0), 1.0)
    assert model.k.item() == pytest.approx(expected, rel=1e-5) and model.k.item() != 0.5
    model.after_step("G")
    assert model.k.item() == pytest.approx(expected, rel=1e-5)


def test_samples_come_from_a_gaussian_fitted_to_the_codes() -> None:
    model, x = tiny_gaia(prior_momentum=1.0), image_batch().x
    model.loss("G", Batch(x, torch.zeros(len(x), dtype=torch.long)))
    z = model.encode(x).detach()
    assert torch.allclose(model.code_mean, z.mean(0), atol=1e-6) and torch.allclose(model.code_cov, torch.cov(z.T))
    draws = model.prior(40000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(draws.mean(0), model.code_mean, atol=0.05 * z.std().item())
    assert torch.allclose(torch.cov(draws.T), model.code_cov, atol=0.05 * model.code_cov.abs().max().item())


def test_trains_on_mnist10k_with_finite_logged_terms(tmp_path: Path) -> None:
    result = train(tiny_config("gaia", tmp_path / "run", data="mnist10k", limit_per_class=8))
    rows = [json.loads(line) for line in (result.run / "metrics.jsonl").read_text().splitlines()]
    logged = {k for r in rows for k in r}
    assert {"D/d_x", "D/d_fake", "D/d_xg", "D/d_xi", "D/k", "D/convergence", "G/d_xg", "G/d_xi", "G/xg"} <= logged
    assert all(math.isfinite(v) for r in rows if "health" not in r for v in r.values())  # health rows hold text
    assert all(0 <= r["D/k"] <= 1 for r in rows if "D/k" in r)
    assert math.isfinite(result.metrics["recon_mse"])
    model, _ = build_model(result.checkpoint / WEIGHTS, torch.device("cpu"))
    assert not torch.equal(model.code_cov, torch.eye(4))  # the fitted Gaussian travels with the weights


def test_resume_continues_k_and_the_fitted_gaussian_exactly(tmp_path: Path) -> None:
    options = {"gamma": 3.0, "lambda_k": 0.1, "prior_momentum": 0.3}  # k moves off 0 within a few steps
    whole = train(tiny_config("gaia", tmp_path / "whole", **options))
    train(tiny_config("gaia", tmp_path / "split", steps=3, **options))
    cfg = RunConfig.load(tmp_path / "split" / "config.yaml")
    cfg.train.steps = 6
    second = train(cfg, resume=True)
    a, b = (load_file(latest_checkpoint(r.run) / WEIGHTS) for r in (whole, second))
    assert a["k"] > 0 and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
