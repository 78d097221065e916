"""Automatic sizing: the documented values for 28 px / 1 channel and 64 px / 3 channels, explicit options kept,
resolved values recorded in config.yaml and repeated by --config, and the share of time outside the steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import tiny_config
from deepgen.cli import main
from deepgen.config import RunConfig
from deepgen.models.sizing import Sizing
from deepgen.registry import get_model, models
from deepgen.training.trainer import train

MNIST10K = Sizing(28, 1, 8000, "cpu")  # the shipped digits' training split on a CPU
RGB64 = Sizing(64, 3, 50_000, "cpu")
RATES = {"lr_g": 2e-4, "lr_d": 2e-4}  # on a CPU, for Adam and RMSprop alike
OFF = {"augment": "off", "augment_ops": ["color", "translation", "cutout"]}  # adversarial, many images per class
PLENTY = {**OFF, **RATES}
STYLEGAN = {"batch_size": 32, "critic_steps": 1, "lr_g": 0.0025, "lr_d": 0.0025, "ema_decay": 0.99778,
            "mapping_layers": 2, "style_mixing": 0.0}  # fmt: skip

# The README's table "Defaults sized to the data" (the batch size is the same for every model).
DOCUMENTED = {
    MNIST10K: {
        "batch_size": 64,
        "dcgan": {"g_width": 32, "d_width": 32, "noise_dim": 64, "critic_steps": 1, "ema_decay": 0.0, **PLENTY},
        "wgan": {"g_width": 32, "d_width": 32, "noise_dim": 64, "critic_steps": 2, "ema_decay": 0.0, **PLENTY},
        "wgan-gp": {"g_width": 32, "d_width": 32, "noise_dim": 64, "critic_steps": 2, "ema_decay": 0.0, **PLENTY},
        "gan": {"noise_dim": 64, "critic_steps": 1, "ema_decay": 0.0, **PLENTY},
        "vae-gan": {"d_width": 32, "lr": 1e-3},
        "gaia": {"latent_dim": 16, "lr": 1e-3},
        "diffusion": {"widths": [32, 32], "patch": 2, "attention_size": 7, "loss_weighting": "min-snr"},
        "progan": {
            "batch_size": 32,
            "noise_dim": 64,
            "fmap_max": 64,
            "fmap_base": 448,
            "fade_images": 8000,
            "stable_images": 8000,
            "batch_sizes": [32, 32, 32],
            "ema_decay": 0.97265,
            **OFF,
        },
        "stylegan": {**STYLEGAN, **OFF, "noise_dim": 64, "channel_base": 448, "channel_max": 64, "r1_gamma": 0.0049},
    },
    RGB64: {
        "batch_size": 64,
        "dcgan": {"g_width": 16, "d_width": 16, "noise_dim": 128, "critic_steps": 1, "ema_decay": 0.0, **PLENTY},
        "wgan": {"g_width": 16, "d_width": 16, "noise_dim": 128, "critic_steps": 2, "ema_decay": 0.0, **PLENTY},
        "wgan-gp": {"g_width": 16, "d_width": 16, "noise_dim": 128, "critic_steps": 2, "ema_decay": 0.0, **PLENTY},
        "gan": {"noise_dim": 128, "critic_steps": 1, "ema_decay": 0.0, **PLENTY},
        "vae-gan": {"d_width": 16, "lr": 1e-3},
        "gaia": {"latent_dim": 128, "lr": 1e-3},
        "diffusion": {"widths": [32, 32, 32], "patch": 2, "attention_size": 8, "loss_weighting": "min-snr"},
        "progan": {
            "batch_size": 32,
            "noise_dim": 32,
            "fmap_max": 32,
            "fmap_base": 512,
            "fade_images": 50_000,
            "stable_images": 50_000,
            "batch_sizes": [32, 32, 32, 32, 32],
            "ema_decay": 0.99557,
            **OFF,
        },
        "stylegan": {**STYLEGAN, **OFF, "noise_dim": 32, "channel_base": 512, "channel_max": 32, "r1_gamma": 0.0256},
    },
}


@pytest.mark.parametrize("sizing", list(DOCUMENTED), ids=str)
@pytest.mark.parametrize("name", sorted(models()))
def test_auto_options_get_the_documented_values(name: str, sizing: Sizing) -> None:
    cfg = RunConfig.default(name)
    sized = cfg.size_to(sizing)
    assert sized == {"batch_size": DOCUMENTED[sizing]["batch_size"], "steps": 2000, **DOCUMENTED[sizing].get(name, {})}
    assert cfg.size_to(sizing) == {}  # nothing is left at auto


def test_given_options_are_never_replaced() -> None:
    cfg = RunConfig.default("progan")
    cfg.apply_overrides(["batch_size=32", "fmap_max=256", "fade_images=5", "batch_sizes=[]"])
    sized = cfg.size_to(MNIST10K)
    assert not {"batch_size", "fmap_max", "fade_images", "batch_sizes"} & set(sized)
    c = cfg.model_config
    assert (cfg.train.batch_size, c.fmap_max, c.fade_images, c.batch_sizes) == (32, 256, 5, [])
    assert c.ema_decay == pytest.approx(0.5 ** (32 / 800), abs=1e-5)  # sized to the batch size given
    assert c.stable_images == 8000


def test_models_built_outside_training_fill_auto_options_from_their_shape() -> None:
    model = get_model("dcgan")(get_model("dcgan").Config(), (1, 28, 28), [str(i) for i in range(10)])
    assert (model.config.g_width, model.config.noise_dim) == (32, 64)


def test_a_run_records_its_sized_options_and_its_config_repeats_them(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cfg = tiny_config("wgan-gp", tmp_path / "first", g_width=None, batch_size=None, critic_steps=None, steps=2)
    train(cfg)
    assert "auto-sized for 8 px, 1 ch, 1437 images in 10 classes, cpu: " in capsys.readouterr().out
    saved = yaml.safe_load((tmp_path / "first" / "config.yaml").read_text())
    assert (saved["train"]["batch_size"], saved["model_config"]["g_width"], saved["model_config"]["critic_steps"]) == (
        64,
        64,
        2,
    )
    assert saved["model_config"]["d_width"] == 8  # given by the tiny config
    assert main(["train", "--config", str(tmp_path / "first" / "config.yaml"), "--out", str(tmp_path / "again")]) == 0
    assert "auto-sized" not in capsys.readouterr().out  # nothing left to size: the recorded values are used
    again = yaml.safe_load((tmp_path / "again" / "config.yaml").read_text())
    assert again["model_config"] == saved["model_config"] and again["train"] | {"out": None} == saved["train"] | {
        "out": None
    }


def test_metrics_json_records_the_share_of_time_outside_the_steps(tmp_path: Path) -> None:
    result = train(tiny_config("dcgan", tmp_path / "run"))
    share = json.loads((result.run / "metrics.json").read_text())["outside_step_fraction"]
    assert 0 <= share <= 1 and share == pytest.approx(result.outside_step, abs=1e-4)
