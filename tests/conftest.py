"""Shared test helpers: tiny run configs and image folders written on the fly."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepgen.config import DataConfig, RunConfig
from deepgen.data import load_data
from deepgen.data.imageset import split

TINY_CONV_GAN = {"g_width": 8, "d_width": 8, "noise_dim": 8}
TINY_MODEL = {
    "ae": {"width": 8, "latent_dim": 4, "hidden": [32]},
    "vae": {"width": 8, "latent_dim": 2, "hidden": [32]},
    "gan": {"g_hidden": [32], "d_hidden": [32], "noise_dim": 8},
    "dcgan": TINY_CONV_GAN,
    "wgan": TINY_CONV_GAN,
    "wgan-gp": TINY_CONV_GAN,
    "progan": {
        "fmap_base": 32, "fmap_max": 8, "noise_dim": 8, "fade_images": 32, "stable_images": 32, "batch_sizes": []
    },
    "vae-gan": {"width": 8, "d_width": 8, "latent_dim": 4},
    "gaia": {"width": 8, "d_width": 8, "latent_dim": 4, "d_latent_dim": 4},
    "diffusion": {"widths": [8, 8], "timesteps": 50, "sample_steps": 3},
    "stylegan": {"channel_base": 32, "channel_max": 8, "noise_dim": 8, "mapping_layers": 1},
}


def tiny_config(model: str, out: Path, **overrides: object) -> RunConfig:
    """A run that takes a second or two on the CPU: digits (8 px), small nets, few steps."""
    cfg = RunConfig.default(model)
    settings = {
        "data": "digits",
        "steps": 6,
        "batch_size": 16,
        "log_every": 2,
        "sample_every": 3,
        "checkpoint_every": 3,
        "device": "cpu",
        "tensorboard": False,
        "out": str(out),
        **TINY_MODEL.get(model, {}),
        **overrides,
    }
    for key, value in settings.items():
        cfg.set(key, value)
    return cfg


def ctrl_c_at_call(monkeypatch: pytest.MonkeyPatch, model: type, call: int) -> None:
    """Press Ctrl-C (SIGINT) during the `call`-th loss computation of `model` (a model class) on real data (not the
    memory estimate's step on the meta device)."""
    real_loss = model.loss
    calls = {"n": 0}

    def loss(self, phase, batch):  # noqa: ANN001, ANN202
        calls["n"] += batch.x.device.type != "meta"
        if calls["n"] == call:
            os.kill(os.getpid(), signal.SIGINT)
        return real_loss(self, phase, batch)

    monkeypatch.setattr(model, "loss", loss)


def write_image(path: Path, size: tuple[int, int], mode: str, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(array).convert(mode).save(path)


@pytest.fixture
def class_folder(tmp_path: Path) -> Path:
    """Two classes of mixed extensions, letter case, sizes and modes."""
    root = tmp_path / "scans"
    files = {
        "yes": [
            ("a.jpg", (40, 30), "RGB"),
            ("b.JPG", (64, 64), "L"),
            ("c.png", (50, 80), "RGBA"),
            ("d.jpeg", (33, 33), "RGB"),
        ],
        "no": [("e.PNG", (70, 20), "P"), ("f.png", (64, 64), "LA"), ("g.Jpeg", (16, 16), "CMYK")],
    }
    for k, (label, entries) in enumerate(files.items()):
        (root / label).mkdir(parents=True)
        for i, (name, size, mode) in enumerate(entries):
            write_image(root / label / name, size, mode, seed=10 * k + i)  # distinct pictures: no copies
    (root / "yes" / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def digits() -> tuple:
    """scikit-learn's digits: (training, validation, test) at the default split, validation a fifth of training."""
    splits = load_data(DataConfig(data="digits"))
    train_set, val = split(splits.train, 0.2, 0)
    return train_set, val, splits.test
