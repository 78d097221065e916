"""ProGAN: the growth schedule, fade-ins in both networks, training through resolutions, mid-fade resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from conftest import TINY_MODEL, tiny_config
from deepgen.config import RunConfig, build
from deepgen.models.progan import ProGAN, schedule
from deepgen.nn.progressive import Equalised
from deepgen.run import STATE, WEIGHTS, latest_checkpoint
from deepgen.training.trainer import train
from deepgen.weights import build_model, load_state

CONFIGS = Path(__file__).parents[1] / "configs"


def tiny_progan(shape: tuple[int, int, int] = (1, 16, 16), **options: object) -> ProGAN:
    torch.manual_seed(0)
    return ProGAN(build(ProGAN.Config, {**TINY_MODEL["progan"], **options}, "test"), shape, [str(i) for i in range(10)])


def set_progress(model: ProGAN, level: int, alpha: float) -> None:
    for net in (model.generator.body, model.discriminator.features):
        net.level, net.alpha = level, alpha


@pytest.mark.parametrize(
    "seen,expected",
    [(0, (0, 1.0)), (99, (0, 1.0)), (100, (1, 0.0)), (125, (1, 0.5)), (150, (1, 1.0)), (249, (1, 1.0))]
    + [(250, (2, 0.0)), (260, (2, 0.2)), (300, (2, 1.0)), (10**9, (2, 1.0))],
)
def test_schedule_fades_in_each_resolution_then_holds_it(seen: int, expected: tuple[int, float]) -> None:
    assert schedule(seen, levels=3, fade=50, stable=100) == pytest.approx(expected)


def test_schedule_without_fade_in_switches_at_once() -> None:
    assert [schedule(s, levels=3, fade=0, stable=10) for s in (9, 10, 19, 20)] == [(0, 1), (1, 1), (1, 1), (2, 1)]
    assert schedule(0, levels=3, fade=0, stable=0) == (2, 1)  # no growing at all


def test_resolutions_channels_and_paper_defaults() -> None:
    c = RunConfig.load(CONFIGS / "progan-celebahq.yaml").model_config  # the paper's (once the defaults)
    assert (c.loss, c.regularizer, c.gp_lambda, c.drift, c.critic_steps) == ("wasserstein", "gp", 10.0, 0.001, 1)
    assert (c.lr_g, c.lr_d, c.betas_g, c.betas_d, c.noise_dim, c.ema_decay) == (
        1e-3,
        1e-3,
        [0, 0.99],
        [0, 0.99],
        512,
        0.999,
    )
    model = ProGAN(c, (3, 128, 128), ["x"])
    assert model.resolutions == [4, 8, 16, 32, 64, 128]
    assert model.channels == [512, 512, 512, 512, 256, 128]  # the paper's feature maps per resolution
    assert tiny_progan((1, 28, 28)).resolutions == [7, 14, 28]


def test_every_weighted_layer_is_equalised() -> None:
    model = tiny_progan()
    layers = [m for m in model.modules() if list(m.parameters(recurse=False))]
    assert layers and all(isinstance(m, Equalised) for m in layers)


def test_generator_fade_in_blends_the_upsampled_old_output_into_the_new() -> None:
    model = tiny_progan()
    body, z = model.generator.body, torch.randn(5, 8)
    with torch.no_grad():
        set_progress(model, 1, 1.0)
        old = body(z)  # 8 px
        set_progress(model, 2, 0.0)
        start = body(z)
        set_progress(model, 2, 1.0)
        new = body(z)
        set_progress(model, 2, 0.3)
        mid = body(z)
    assert old.shape == (5, 1, 8, 8) and new.shape == start.shape == (5, 1, 16, 16)
    assert torch.equal(start, F.interpolate(old, scale_factor=2, mode="nearest"))
    assert torch.allclose(mid, 0.7 * start + 0.3 * new, atol=1e-6)
    assert not torch.allclose(start, new)


def test_critic_fade_in_blends_the_downsampled_input_path_into_the_new_block() -> None:
    model = tiny_progan()
    critic, x = model.discriminator, torch.randn(6, 1, 16, 16)
    with torch.no_grad():
        set_progress(model, 1, 1.0)
        old = critic(F.avg_pool2d(x, 2))
        set_progress(model, 2, 0.0)
        start = critic(x)
        set_progress(model, 2, 1.0)
        new = critic(x)
    assert torch.equal(start, old) and not torch.allclose(start, new)


def test_real_images_follow_the_resolution_and_alpha() -> None:
    model = tiny_progan()  # 4 px for 32 images, then 8 px faded in over 32, stable for 32, then 16 px
    x = torch.randn(4, 1, 16, 16)
    model.seen = 0
    assert torch.allclose(model.at_resolution(x), F.avg_pool2d(x, 4))
    model.seen = 40  # 8 px, alpha = 0.25
    blended = 0.75 * F.interpolate(F.avg_pool2d(x, 4), scale_factor=2) + 0.25 * F.avg_pool2d(x, 2)
    assert torch.allclose(model.at_resolution(x), blended, atol=1e-6)
    model.seen = 10**6
    assert torch.equal(model.at_resolution(x), x)
    assert model.sample(3).shape == (3, 1, 16, 16)  # samples are always full size


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def mnist_config(out: Path, **overrides: object) -> RunConfig:
    """mnist10k at 16 px: 4 px for 2 steps of 16, then 8 px (fade, stable) and 16 px in steps of 8."""
    settings = {"data": "mnist10k", "image_size": 16, "fit": "pad", "limit_per_class": 8, "batch_sizes": [16, 8]}
    return tiny_config("progan", out, **{**settings, "steps": 18, **overrides})


def test_trains_on_mnist10k_through_two_resolutions_with_grids_per_stage(tmp_path: Path) -> None:
    result = train(mnist_config(tmp_path / "run"))
    assert result.step == 18
    samples = {p.name for p in (result.run / "samples").iterdir()}
    assert {"stage-4px.png", "stage-8px-fade.png", "stage-8px.png", "stage-16px-fade.png"} <= samples
    logged = rows(result.run)
    assert {"D/critic", "D/gp", "D/drift", "G/adv"} <= {k for r in logged for k in r}
    assert all(math.isfinite(v) for r in logged for v in r.values())
    state = load_state(result.checkpoint / STATE)
    assert state["data_position"] == 2 * (2 * 16 + 16 * 8)  # critic and generator batches: 16 at 4 px, then 8
    model, _ = build_model(result.checkpoint / WEIGHTS, torch.device("cpu"))
    assert int(model.images_seen) == model.seen == 2 * 16 + 16 * 8 and model.stage() == "16px"
    assert model.sample(4).shape == (4, 1, 16, 16)


def test_resume_in_the_middle_of_a_fade_in_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    whole = train(mnist_config(tmp_path / "whole", steps=8, checkpoint_every=100))
    first = train(mnist_config(tmp_path / "split", steps=3, checkpoint_every=100))
    paused, _ = build_model(first.checkpoint / WEIGHTS, torch.device("cpu"))
    assert (paused.stage(), paused.progress()) == ("8px-fade", (1, 0.25))  # 32 images at 4 px, then 8 of 32
    cfg = RunConfig.load(tmp_path / "split" / "config.yaml")
    cfg.train.steps = 8
    second = train(cfg, resume=True)
    a, b = (load_file(latest_checkpoint(r.run) / WEIGHTS) for r in (whole, second))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert int(b["images_seen"]) == 2 * 16 + 6 * 8
    assert {p.name for p in (second.run / "samples").iterdir()} >= {"stage-4px.png", "stage-8px-fade.png"}
    losses = lambda run: [(r["step"], r["G/adv"]) for r in rows(run) if "G/adv" in r and r["step"] > 4]  # noqa: E731
    assert losses(whole.run) == losses(second.run) != []


def test_preset_scales_the_paper_to_mnist_32() -> None:
    cfg = RunConfig.load(CONFIGS / "progan-mnist32.yaml")
    c = cfg.model_config
    assert (cfg.model, cfg.data.data, cfg.data.image_size, cfg.data.fit) == ("progan", "mnist10k", 32, "pad")
    assert (c.loss, c.regularizer, c.gp_lambda, c.drift, c.lr_g, c.betas_g) == (
        "wasserstein",
        "gp",
        10,
        0.001,
        1e-3,
        [0, 0.99],
    )
    end = c.stable_images + 3 * (c.fade_images + c.stable_images)  # the end of the stable period at 32 px
    seen, steps = 0, 0
    while seen < end:
        level, _ = schedule(seen, 4, c.fade_images, c.stable_images)
        seen, steps = seen + c.batch_sizes[min(level, len(c.batch_sizes) - 1)], steps + 1
    assert steps <= cfg.train.steps < 1.05 * steps
