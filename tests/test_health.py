"""The training-health monitor: each check fires on a constructed failure and stays silent when healthy."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from conftest import tiny_config
from deepgen.data.imageset import ImageSet
from deepgen.run import warnings_of
from deepgen.training.health import GRAD_WARMUP, PATIENCE, SAMPLE_WARMUP, HealthMonitor, HealthWarning
from deepgen.training.metrics_log import MetricsLog
from deepgen.training.trainer import train


def real_set(n: int = 40) -> ImageSet:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=g)
    return ImageSet(images, torch.arange(n) % 2, ["zero", "one"])


def monitor(tmp_path: Path) -> HealthMonitor:
    return HealthMonitor(MetricsLog(tmp_path, 0, tensorboard=False), real_set(), collapse_ratio=0.2)


def random_images(n: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def silent(check) -> None:  # noqa: ANN001
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check()


def test_critic_winning_needs_several_intervals(tmp_path: Path) -> None:
    health = monitor(tmp_path)

    def rows(share: float, start: int) -> list[dict[str, float]]:
        return [{"step": start + i, "D/saturation": share, "D/d_real": 0.99, "D/d_fake": 0.01} for i in range(8)]

    healthy = rows(0.4, 0) + [{"step": 9, "D/r_sign": 1.0, "D/d_real": 4.3, "D/d_fake": -6.6}] * PATIENCE  # wgan
    broken = (rows(1.0, 10)[: PATIENCE - 1] + rows(0.5, 20)[:1]) * 2  # streaks one interval short
    silent(lambda: [health.check_row(r) for r in healthy + broken])
    with pytest.warns(HealthWarning, match=r"step 44: the critic has won for 5 logging intervals: 100% .*= 0.99"):
        for r in rows(1.0, 40)[:PATIENCE]:
            health.check_row(r)
    assert [m.split(":")[0] for m in warnings_of(tmp_path)] == ["step 44"]
    silent(lambda: health.check_row(rows(1.0, 50)[0]))  # once per symptom


def test_all_black_samples_are_flagged(tmp_path: Path) -> None:
    health = monitor(tmp_path)
    silent(lambda: health.check_samples(SAMPLE_WARMUP - 1, torch.full((16, 1, 8, 8), -1.0)))  # too early to judge
    silent(lambda: health.check_samples(105, random_images(16)))
    with pytest.warns(HealthWarning, match=r"step 106: the samples are near-constant \(all black\).*--augment"):
        health.check_samples(106, torch.full((16, 1, 8, 8), -1.0))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()][1:]
    assert rows[0]["samples/spread"] > 0.5 and rows[1]["samples/spread"] == 0
    assert rows[2] == {"step": 106, "health": "constant", "message": warnings_of(tmp_path)[0]}


def test_collapse_of_the_whole_grid(tmp_path: Path) -> None:
    health = monitor(tmp_path)
    silent(lambda: health.check_samples(105, random_images(16)))
    one = random_images(1).expand(16, -1, -1, -1) + 0.3 * random_images(16, seed=2).clamp(0, 1)  # spread ok, close
    with pytest.warns(HealthWarning, match="step 107: samples are .* as diverse as real images"):
        health.check_samples(107, one)


def test_collapse_within_one_class(tmp_path: Path) -> None:
    """Class 'one' repeats one image while the grid as a whole still varies."""
    health = monitor(tmp_path)
    labels = torch.arange(16) % 2
    silent(lambda: health.check_samples(105, random_images(16), labels))
    samples = random_images(16)
    samples[labels == 1] = samples[1].clone()
    with pytest.warns(HealthWarning, match=r"step 108: samples of class\(es\) one are under 20% as diverse"):
        health.check_samples(108, samples, labels)


def test_exploding_gradients(tmp_path: Path) -> None:
    health = monitor(tmp_path)
    steady = [{"step": i, "G/grad_norm": 2.0 + i % 3, "D/grad_norm": 1.0} for i in range(GRAD_WARMUP + 5)]
    silent(lambda: [health.check_row(r) for r in steady])
    with pytest.warns(HealthWarning, match=r"step 99: D/grad_norm = 500 is 500x its early median 1"):
        health.check_row({"step": 99, "G/grad_norm": 3.0, "D/grad_norm": 500.0})


def test_a_run_whose_critic_wins_is_flagged_in_its_log_and_curves(tmp_path: Path) -> None:
    """A generator that barely learns (lr 1e-9; 0 is refused) against a fast critic, without augmentation."""
    cfg = tiny_config("dcgan", tmp_path / "run", steps=14, lr_g=1e-9, lr_d=0.05, augment="off", log_every=1)
    with pytest.warns(HealthWarning, match="the critic has won"):
        result = train(cfg)
    assert any("critic has won" in m for m in warnings_of(result.run))
    assert (result.run / "loss_curves.png").is_file()
