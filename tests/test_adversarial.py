"""The GAN family: losses, regularisers, critic steps, noise, conditioning, EMA."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from conftest import TINY_MODEL, tiny_config
from deepgen.cli import main
from deepgen.config import RunConfig, build
from deepgen.data.loader import Batch
from deepgen.errors import ConfigError
from deepgen.losses import critic_terms, generator_term, gradient_penalty
from deepgen.registry import get_model
from deepgen.run import STATE, WEIGHTS
from deepgen.training.trainer import train
from deepgen.weights import build_model, load_state

GANS = ["gan", "dcgan", "wgan", "wgan-gp"]
CONFIGS = Path(__file__).parents[1] / "configs"


def tiny_gan(name: str, shape: tuple[int, int, int] = (1, 8, 8), **options: object) -> nn.Module:
    cls = get_model(name)
    torch.manual_seed(0)
    return cls(build(cls.Config, {**TINY_MODEL[name], **options}, "test"), shape, [str(i) for i in range(10)])


def test_gradient_penalty_of_a_linear_critic() -> None:
    """For D(x) = w.x + b the gradient is w everywhere, so the penalty is (||w|| - 1)^2."""
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    with torch.no_grad():
        critic[1].weight.copy_(torch.arange(12.0).view(1, 12) / 10)
    real, fake = torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2)
    expected = (torch.linalg.vector_norm(critic[1].weight) - 1) ** 2
    assert torch.allclose(gradient_penalty(lambda x: critic(x).squeeze(1), real, fake), expected)


def test_gradient_penalty_is_differentiable_in_the_critic_weights() -> None:
    critic = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    gradient_penalty(lambda x: critic(x).squeeze(1), torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)).backward()
    assert critic[1].weight.grad.abs().sum() > 0


def test_loss_terms_on_known_scores() -> None:
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    hinge = critic_terms("hinge", real, fake)
    assert hinge["real"].item() == pytest.approx((0 + 2) / 2) and hinge["fake"].item() == pytest.approx((1.5 + 0) / 2)
    assert critic_terms("wasserstein", real, fake)["critic"].item() == pytest.approx(-1.25 - 0.5)
    bce = critic_terms("bce", real, fake)
    assert bce["real"].item() == pytest.approx(-np.mean(np.log(1 / (1 + np.exp(-np.array([2.0, -1.0]))))), rel=1e-5)
    assert generator_term("bce", fake).item() == pytest.approx(
        np.mean(np.log1p(np.exp(-np.array([0.5, -3.0])))), rel=1e-5
    )
    assert generator_term("hinge", fake).item() == pytest.approx(1.25)


def test_weight_clipping_keeps_every_critic_weight_in_range(tmp_path: Path) -> None:
    result = train(tiny_config("wgan", tmp_path / "run", clip_value=0.02, lr_d=0.1))
    weights, _ = build_model(result.checkpoint / WEIGHTS, torch.device("cpu"))
    params = list(weights.discriminator.parameters())
    assert all(p.abs().max().item() <= 0.02 for p in params)
    assert any(p.abs().max().item() == pytest.approx(0.02) for p in params)  # the large learning rate hit the bound


def test_critic_steps_are_honoured(tmp_path: Path) -> None:
    result = train(tiny_config("wgan-gp", tmp_path / "run", steps=3, critic_steps=4))
    state = load_state(result.checkpoint / STATE)
    steps = {name: max(int(s["step"]) for s in opt["state"].values()) for name, opt in state["optimizers"].items()}
    assert steps == {"D": 12, "G": 3}
    assert state["data_position"] == 15 * 16  # a fresh batch of 16 for each critic step and each generator step


@pytest.mark.parametrize(
    "noise,mean,var,check",
    [
        ("normal", 0.0, 1.0, lambda z: True),
        ("uniform", 0.0, 1 / 3, lambda z: z.min() >= -1 and z.max() <= 1),
        ("poisson", 1.0, 1.0, lambda z: torch.equal(z, z.round()) and z.min() >= 0),
    ],
)
def test_noise_distributions(noise: str, mean: float, var: float, check) -> None:  # noqa: ANN001
    model = tiny_gan("gan", noise=noise, noise_dim=100)
    z = model.prior(2000, generator=torch.Generator().manual_seed(0))
    assert z.shape == (2000, 100) and check(z)
    assert z.mean().item() == pytest.approx(mean, abs=0.01) and z.var().item() == pytest.approx(var, rel=0.02)
    assert not torch.equal(z, model.prior(2000, generator=torch.Generator().manual_seed(1)))


def test_conditional_generator_is_fed_the_requested_labels() -> None:
    model = tiny_gan("dcgan", conditional=True)
    seen = []
    model.generator.body.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    labels = torch.tensor([3, 1, 4, 1, 5])
    images = model.sample(5, generator=torch.Generator().manual_seed(0), labels=labels)
    assert images.shape == (5, 1, 8, 8)
    assert torch.equal(seen[0][:, -10:].argmax(1), labels) and torch.equal(seen[0][:, -10:].sum(1), torch.ones(5))
    # the critic's score depends on the label (projection)
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        nn.init.normal_(model.discriminator.embed.weight)
    assert not torch.equal(model.discriminator(x, labels), model.discriminator(x, torch.zeros(5, dtype=torch.long)))


def test_sample_per_class_writes_class_folders(tmp_path: Path) -> None:
    run = train(tiny_config("wgan-gp", tmp_path / "run", conditional=True)).run
    assert main(["sample", str(run), "--per-class", "3", "--out", str(tmp_path / "by_class")]) == 0
    folders = sorted(p.name for p in (tmp_path / "by_class").iterdir())
    assert folders == [str(i) for i in range(10)]
    assert all(len(list((tmp_path / "by_class" / f).glob("*.png"))) == 3 for f in folders)
    assert main(["sample", str(run), "--per-class", "2", "--out", str(tmp_path / "s.npz")]) == 0
    data = np.load(tmp_path / "s.npz")
    assert data["labels"].tolist() == [c for c in range(10) for _ in range(2)] and data["images"].shape == (20, 1, 8, 8)
    assert list(data["classes"]) == [str(i) for i in range(10)]


def test_per_class_needs_a_conditional_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = train(tiny_config("dcgan", tmp_path / "run")).run
    assert main(["sample", str(run), "--per-class", "3", "--out", str(tmp_path / "x")]) == 2
    assert "--per-class needs a conditional model" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name,conditional", [(n, False) for n in GANS] + [(n, True) for n in ("gan", "dcgan", "wgan-gp")]
)
def test_trains_on_mnist10k_with_finite_logged_terms(name: str, conditional: bool, tmp_path: Path) -> None:
    cfg = tiny_config(name, tmp_path / "run", data="mnist10k", limit_per_class=8, conditional=conditional)
    rows = [json.loads(line) for line in (train(cfg).run / "metrics.jsonl").read_text().splitlines()]
    logged = {k for r in rows for k in r}
    expected = {"D/grad_norm", "G/grad_norm", "G/adv", "D/d_real", "D/d_fake", "samples/diversity"}
    expected |= {"D/critic", "D/w_estimate"} if name.startswith("wgan") else {"D/real", "D/fake", "D/loss"}
    expected |= {"D/gp", "D/loss"} if name == "wgan-gp" else set()
    assert expected <= logged
    assert all(math.isfinite(v) for r in rows if "health" not in r for v in r.values())  # health rows hold text
    if not name.startswith("wgan"):
        assert all(0 <= r["D/d_real"] <= 1 for r in rows if "D/d_real" in r)  # probabilities for BCE


def test_gradient_penalty_refuses_a_batchnorm_critic() -> None:
    with pytest.raises(ConfigError, match="--d-norm layer"):
        tiny_gan("wgan-gp", (1, 28, 28), d_norm="batch")


def test_ema_generator_is_what_samples(tmp_path: Path) -> None:
    result = train(tiny_config("dcgan", tmp_path / "run", ema_decay=0.5))
    model, _ = build_model(result.checkpoint / WEIGHTS, torch.device("cpu"))
    model.eval()
    ema_w, live_w = model.ema.module.body[1].weight, model.generator.body[1].weight
    assert not torch.equal(ema_w, live_w)
    z = model.prior(4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model.ema.module(z)
        assert torch.equal(model.sample(4, generator=torch.Generator().manual_seed(0)), expected)


def test_presets_reproduce_the_reports_settings() -> None:
    dcgan = RunConfig.load(CONFIGS / "dcgan-mnist.yaml")
    assert (dcgan.model, dcgan.train.batch_size, dcgan.model_config.noise_dim) == ("dcgan", 128, 100)
    assert (dcgan.model_config.lr_g, dcgan.model_config.lr_d, dcgan.model_config.betas_g[0]) == (2e-4, 2e-4, 0.5)
    wgp = RunConfig.load(CONFIGS / "wgan-gp-mnist.yaml")
    c = wgp.model_config
    assert (wgp.model, wgp.train.batch_size, c.noise_dim, c.critic_steps, c.gp_lambda) == ("wgan-gp", 128, 128, 5, 10)
    assert (c.lr_g, c.lr_d, c.betas_g, c.betas_d, c.optimizer) == (2e-4, 2e-4, [0.5, 0.9], [0.5, 0.9], "adam")
    for preset in CONFIGS.glob("*.yaml"):
        RunConfig.load(preset)


def test_drift_penalty_is_the_mean_squared_real_score() -> None:
    model = tiny_gan("wgan-gp", drift=0.001)
    x = torch.randn(6, 1, 8, 8)
    out = model.loss("D", Batch(x, torch.zeros(6, dtype=torch.long)))
    with torch.no_grad():
        expected = 0.001 * model.discriminator(x).square().mean()
    assert torch.allclose(out.terms["drift"], expected)


def test_gradient_penalty_under_bf16_autocast_agrees_with_fp32() -> None:
    model = tiny_gan("wgan-gp", (1, 28, 28))
    batch = Batch(torch.rand(8, 1, 28, 28) * 2 - 1, torch.zeros(8, dtype=torch.long))
    torch.manual_seed(0)
    exact = model.loss("D", batch).terms["gp"]
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = model.loss("D", batch).terms["gp"]
    fast.backward()  # the double backward runs under autocast too
    assert torch.isfinite(fast) and abs(fast.item() - exact.item()) <= 0.05 * exact.item() + 1e-3
    assert all(torch.isfinite(p.grad).all() for p in model.discriminator.parameters() if p.grad is not None)
