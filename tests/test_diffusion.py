"""The diffusion model: schedule, training signal, samplers, guidance, SDEdit variations, exact resume."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import tiny_config
from deepgen.cli import main
from deepgen.config import DataConfig, RunConfig, build
from deepgen.data import load_data, to_float
from deepgen.data.loader import Batch
from deepgen.errors import ConfigError
from deepgen.models.configs.diffusion import DiffusionConfig, cpu_unet
from deepgen.models.diffusion import Diffusion, alpha_bar, min_snr
from deepgen.models.sizing import Sizing
from deepgen.nn.unet import UNet
from deepgen.run import WEIGHTS, latest_checkpoint
from deepgen.sampling import write_samples
from deepgen.training.trainer import train

CLASSES = [str(i) for i in range(10)]


def tiny(**options: object) -> Diffusion:
    torch.manual_seed(0)
    config = build(DiffusionConfig, {"widths": [8, 16], "timesteps": 100, "sample_steps": 4, **options}, "test")
    return Diffusion(config, (1, 8, 8), CLASSES)


def digits(n: int = 32) -> Batch:
    data = load_data(DataConfig(data="digits")).train
    return Batch(to_float(data.images[:n]), data.labels[:n])


def test_linear_schedule_matches_ho_et_al_at_known_timesteps() -> None:
    a = alpha_bar("linear", 1000)
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    assert a[0].item() == pytest.approx(1 - 1e-4)
    assert a[1].item() == pytest.approx((1 - 1e-4) * (1 - betas[1].item()))
    assert a[999].item() == pytest.approx(4.04e-5, rel=0.01)  # the value the DDPM paper's schedule ends at


def test_cosine_schedule_matches_its_formula_at_known_timesteps() -> None:
    a = alpha_bar("cosine", 1000)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 250, 500, 750):
        assert a[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-6)
    assert a[499].item() == pytest.approx(0.5, abs=0.01)  # half signal, half noise at mid-schedule
    assert a[-1].item() < 1e-4 and torch.all(a[1:] < a[:-1])


def test_loss_decreases_on_a_fixed_batch() -> None:
    model = tiny(widths=[8, 8], lr=3e-3)
    (phase,) = model.phases()
    b = digits(16)
    torch.manual_seed(1)
    losses = []
    for _ in range(60):
        loss = model.loss(phase.name, b).terms["mse"]
        phase.optimizer.zero_grad()
        loss.backward()
        phase.optimizer.step()
        model.after_step(phase.name)
        losses.append(loss.item())
    assert sum(losses[-10:]) < 0.6 * sum(losses[:10])


def test_ddim_is_deterministic_and_ancestral_is_not() -> None:
    model = tiny(sampler="ddim").eval()
    x_t = torch.randn(4, 1, 8, 8)
    labels = torch.arange(4)
    with torch.no_grad():
        first = model.denoise(x_t, 99, 4, labels, torch.Generator().manual_seed(0))
        second = model.denoise(x_t, 99, 4, labels, torch.Generator().manual_seed(1))
        assert torch.equal(first, second)
        model.config.sampler = "ancestral"
        third = model.denoise(x_t, 99, 4, labels, torch.Generator().manual_seed(1))
    assert not torch.equal(first, third)


def test_guidance_zero_is_the_unconditional_prediction_and_one_the_conditional() -> None:
    model = tiny()
    with torch.no_grad():
        for p in model.ema.module.parameters():  # the zero-initialised head would make every prediction 0
            p.add_(0.1 * torch.randn_like(p))
        x, t, labels = torch.randn(4, 1, 8, 8), torch.tensor([0, 30, 60, 99]), torch.tensor([1, 2, 3, 4])
        unconditional = model.ema.module(x, t, None)
        conditional = model.ema.module(x, t, labels)
        assert not torch.allclose(unconditional, conditional)
        assert torch.allclose(model.guided_eps(x, t, labels, 0.0), unconditional, atol=1e-6)
        assert torch.allclose(model.guided_eps(x, t, labels, 1.0), conditional, atol=1e-6)
        w3 = model.guided_eps(x, t, labels, 3.0)
    assert torch.allclose(w3, unconditional + 3 * (conditional - unconditional), atol=1e-5)


def test_label_dropout_uses_the_null_label() -> None:
    model = tiny(label_dropout=1.0)
    seen = []
    model.net.register_forward_pre_hook(lambda m, args: seen.append(args[2]))
    model.loss("diffusion", digits(8))
    assert torch.equal(seen[0], torch.full((8,), 10))


def test_sdedit_strength_moves_from_the_image_to_a_sample() -> None:
    model = tiny().eval()
    x = digits(4).x
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    with torch.no_grad():
        weak, strong = model.vary(x, 0.05, g()), model.vary(x, 1.0, g())
        assert weak.shape == x.shape and strong.min() >= -1 and strong.max() <= 1
        assert (weak - x).abs().mean() < (strong - x).abs().mean()
        assert torch.equal(model.vary(x, 0.5, g()), model.vary(x, 0.5, g()))
    with pytest.raises(ConfigError, match="strength"):
        model.vary(x, 1.5)


def test_unet_refuses_sizes_it_cannot_halve() -> None:
    with pytest.raises(ConfigError, match="divisible by 4"):
        Diffusion(DiffusionConfig(widths=[8, 8, 8]), (1, 14, 14), CLASSES)


def test_resume_continues_bit_for_bit(tmp_path: Path) -> None:
    whole = train(tiny_config("diffusion", tmp_path / "whole", steps=8, checkpoint_every=4, sample_every=100))
    first = train(tiny_config("diffusion", tmp_path / "split", steps=4, checkpoint_every=100, sample_every=100))
    assert first.step == 4
    cfg = RunConfig.load(tmp_path / "split" / "config.yaml")
    cfg.train.steps = 8
    second = train(cfg, resume=True)
    a, b = (load_file(latest_checkpoint(r.run) / WEIGHTS) for r in (whole, second))
    assert a.keys() == b.keys() and any(k.startswith("ema.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sample_command_takes_sampling_options_and_varies_real_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = train(tiny_config("diffusion", tmp_path / "run", steps=2, sample_every=100)).run
    by_class = tmp_path / "by_class"
    assert main(["sample", str(run), "--per-class", "2", "--out", str(by_class), "--guidance", "0"]) == 0
    assert sorted(p.name for p in by_class.iterdir()) == CLASSES
    out = tmp_path / "v.npz"
    args = ["sample", str(run), "--from-images", str(by_class), "--strength", "0.4", "--sample-steps", "2"]
    assert main([*args, "--out", str(out)]) == 0
    saved = np.load(out)
    assert saved["images"].shape == (20, 1, 8, 8) and sorted(saved["labels"]) == sorted(list(range(10)) * 2)
    assert main([*args[:-2], "--strength", "1.5", "--out", str(out)]) == 2
    # as many sub-folders as classes, named otherwise: taken in sorted order, and said so
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for k, folder in enumerate(sorted(by_class.iterdir())):
        folder.rename(renamed / f"class_{k:02d}")
    assert main([*args[:3], str(renamed), *args[4:], "--out", str(tmp_path / "v2.npz")]) == 0
    printed = capsys.readouterr()
    assert "class_00 -> 0, class_01 -> 1" in printed.out and "classes of the model: 0, 1, 2" in printed.out
    assert sorted(np.load(tmp_path / "v2.npz")["labels"]) == sorted(list(range(10)) * 2)
    (renamed / "class_00").rename(renamed / "other")
    (renamed / "extra").mkdir()
    moved = next((renamed / "class_01").iterdir())
    moved.rename(renamed / "extra" / moved.name)
    assert main([*args[:3], str(renamed), *args[4:], "--out", str(tmp_path / "v3.npz")]) == 2
    assert "or give one sub-folder per class (10)" in capsys.readouterr().err
    # dcgan, ae, ... have no --guidance; diffusion no --latent-dim: one error line, exit code 2
    assert main(["sample", str(run), "--n", "2", "--out", str(out), "--latent-dim", "3"]) == 2


def test_a_per_class_grid_has_a_row_per_class(tmp_path: Path) -> None:
    images = torch.arange(6, dtype=torch.uint8).view(6, 1, 1, 1).expand(6, 1, 4, 4).contiguous()
    write_samples(images, tmp_path / "g.png", torch.tensor([0, 1, 2, 0, 1, 2]), ["a", "b", "c"])
    grid = np.array(Image.open(tmp_path / "g.png"))
    assert grid.shape[:2] == (2 + 3 * 6, 2 + 2 * 6)  # 3 rows (classes) of 2 images, 4 px with 2 px padding
    assert [grid[2 + 6 * r, 2 + 6 * c].max() for r in range(3) for c in range(2)] == [0, 3, 1, 4, 2, 5]


def oracle(model: Diffusion, target: torch.Tensor) -> None:
    """Make `model` predict the exact noise of data that is the one image `target`: (x - sqrt(a) x*) / sqrt(1 - a)."""

    def eps(x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None, guidance: float) -> torch.Tensor:
        a = model.alpha_bar[t].view(-1, 1, 1, 1)
        return (x - a.sqrt() * target) / (1 - a).sqrt()

    model.guided_eps = eps  # type: ignore[method-assign]


@pytest.mark.parametrize("sampler", ["ddim", "dpm++"])
def test_deterministic_samplers_reach_the_data_with_an_exact_denoiser(sampler: str) -> None:
    model = tiny(sampler=sampler, sample_steps=5, timesteps=1000).eval()
    target = torch.rand(1, 1, 8, 8) * 1.6 - 0.8
    oracle(model, target)
    with torch.no_grad():
        out = model.sample(3, torch.Generator().manual_seed(0))
    assert torch.allclose(out, target.expand(3, -1, -1, -1), atol=1e-4)


def test_dpm_solver_second_order_step_differs_from_ddim_but_its_first_step_equals_it() -> None:
    model = tiny(timesteps=1000).eval()
    with torch.no_grad():
        for p in model.ema.module.parameters():  # a network that predicts something else than zero
            p.add_(0.1 * torch.randn_like(p))
        x = torch.randn(2, 1, 8, 8)
        labels = torch.arange(2)
        runs = {}
        for sampler in ("ddim", "dpm++"):
            model.config.sampler = sampler
            runs[sampler] = [model.denoise(x, 999, steps, labels, None) for steps in (1, 2, 4)]
    assert torch.equal(runs["ddim"][0], runs["dpm++"][0])  # one step: x_0 alone
    assert not torch.allclose(runs["ddim"][2], runs["dpm++"][2])


def test_min_snr_weighting_caps_the_weight_of_low_noise_timesteps() -> None:
    a = torch.tensor([0.5, 5 / 6, 0.99])  # SNR 1, 5, 99
    assert torch.allclose(min_snr(a), torch.tensor([1.0, 1.0, 5 / 99]))
    model = tiny(loss_weighting="min-snr")
    assert model.loss("diffusion", digits(8)).terms["mse"].item() > 0


def test_patches_fold_pixels_into_channels_and_back() -> None:
    net = UNet((1, 28, 28), [8, 8], 1, 7, 10, patch=2)
    assert net.stem.in_channels == 4 and net.head[-1].out_channels == 4
    x = torch.randn(2, 1, 28, 28)
    assert net(x, torch.tensor([1, 2]), torch.tensor([3, 4])).shape == x.shape
    with pytest.raises(ConfigError, match="divisible by 8"):
        UNet((1, 28, 28), [8, 8, 8], 1, 7, patch=2)


@pytest.mark.parametrize(
    "device,given,expected",
    [
        ("cpu", {}, {"widths": [32, 32], "patch": 2, "attention_size": 7, "loss_weighting": "min-snr"}),
        ("cuda", {}, {"widths": [16, 32, 32], "patch": 1, "attention_size": 16, "loss_weighting": "uniform"}),
        ("cpu", {"widths": [16, 32, 32]}, {"widths": [16, 32, 32], "patch": 1, "attention_size": 7}),
    ],
)
def test_unet_is_sized_for_the_device(device: str, given: dict, expected: dict) -> None:
    sized = DiffusionConfig(**given).sized(Sizing(28, 1, 8000, device), None)
    assert {k: sized[k] for k in expected} == expected
    assert cpu_unet(32) == ([32, 32, 32], 2) and cpu_unet(8) == ([16, 32, 32], 1)
