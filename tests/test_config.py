"""Config dataclasses: value parsing, overrides, YAML round trip, unique option names."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from deepgen.config import RunConfig, coerce
from deepgen.errors import ConfigError
from deepgen.registry import get_model, models


@pytest.mark.parametrize(
    "tp,text,expected",
    [
        (int, "3", 3),
        (int, "1e3", 1000),
        (float, "1e-3", 0.001),
        (bool, "no", False),
        (bool, "True", True),
        (int | None, "none", None),
        (int | None, "7", 7),
        (list[int], "64,32", [64, 32]),
        (list[int], "[8, 4]", [8, 4]),
        (Literal["a", "b"], "b", "b"),
    ],
)
def test_values_from_the_command_line(tp: type, text: str, expected: object) -> None:
    assert coerce(tp, text, "x") == expected


@pytest.mark.parametrize(
    "tp,text,message",
    [
        (int, "2.5", "whole number"),
        (float, "fast", "a finite number"),
        (float, "nan", "a finite number"),
        (int, "inf", "whole number"),
        (bool, "maybe", "true or false"),
        (Literal["a", "b"], "c", "one of a, b"),
    ],
)
def test_bad_values_name_the_option(tp: type, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"option 'x'.*{message}"):
        coerce(tp, text, "option 'x'")


def test_overrides_and_yaml_round_trip(tmp_path: Path) -> None:
    cfg = RunConfig.default("vae")
    cfg.apply_overrides(["latent_dim=2", "train.batch_size=64", "data.image_size=32", "hidden=16,8"])
    assert (cfg.model_config.latent_dim, cfg.train.batch_size, cfg.data.image_size, cfg.model_config.hidden) == (
        2,
        64,
        32,
        [16, 8],
    )
    path = tmp_path / "config.yaml"
    path.write_text(cfg.to_yaml())
    assert RunConfig.load(path) == cfg


def test_unknown_and_misplaced_keys(tmp_path: Path) -> None:
    cfg = RunConfig.default("vae")
    with pytest.raises(ConfigError, match="did you mean 'batch_size'"):
        cfg.set("batch_sise", 3)
    with pytest.raises(ConfigError, match="unknown option 'data.latent_dim'"):
        cfg.set("data.latent_dim", 3)
    with pytest.raises(ConfigError, match="--set expects key=value"):
        cfg.apply_overrides(["latent_dim"])
    path = tmp_path / "bad.yaml"
    path.write_text("model: vae\ntrain: {stepz: 3}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: train: unknown option 'stepz'; did you mean 'steps'"):
        RunConfig.load(path)
    path.write_text("model: gann\n")
    with pytest.raises(ConfigError, match="unknown model 'gann'"):
        RunConfig.load(path)


@pytest.mark.parametrize("name", sorted(models()))
def test_option_names_are_unique_across_sections(name: str) -> None:
    """Every option is also a flag (--latent-dim), so a model may not reuse a data/train option name."""
    cfg = RunConfig.default(name)
    names = [f for section in ("data", "train", "model_config") for f in vars(getattr(cfg, section))]
    assert len(names) == len(set(names))
    assert get_model(name).description
