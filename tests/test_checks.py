"""Issue 37 parts 3-5: one validation path for the command line, --set, YAML and the Python API; files that are never
overwritten or left half-written; options that cannot take effect refused."""

from __future__ import annotations

import pytest
import torch

import deepgen
from conftest import TINY_MODEL
from deepgen.config import RunConfig
from deepgen.data.imageset import ImageSet
from deepgen.data.mixing import ImageDataset, MixedBatchSampler
from deepgen.errors import ConfigError
from deepgen.registry import get_model

CLASSES = [str(i) for i in range(10)]


def built(name: str, **options: object) -> torch.nn.Module:
    """A tiny untrained model of family `name` for 8 px grey images of 10 classes."""
    cfg = RunConfig.default(name)
    for key, value in {**TINY_MODEL[name], **options}.items():
        cfg.set(key, value)
    return get_model(name)(cfg.model_config, (1, 8, 8), CLASSES).requires_grad_(False)


@pytest.mark.parametrize(
    "option, value", [("guidance", float("nan")), ("sample_steps", 0), ("sampler", "euler"), ("guidance", 1e30)]
)
def test_options_set_in_code_are_checked_as_the_command_line_checks_them(option: str, value: object) -> None:
    model = built("diffusion", conditional=True)
    setattr(model.config, option, value)
    with pytest.raises(ConfigError, match=option.replace("_", "-")):
        model.sample(2)
    with pytest.raises(ConfigError):
        RunConfig.default("diffusion").set(option, value)  # --set refuses the same


def test_labels_are_checked() -> None:
    with pytest.raises(ConfigError, match="without conditional"):
        built("vae").sample(2, labels=torch.tensor([0, 1]))
    conditional = built("dcgan", conditional=True)
    with pytest.raises(ConfigError, match="classes 0 to 9, got 3 to 10"):
        conditional.sample(2, labels=torch.tensor([3, 10]))
    with pytest.raises(ConfigError, match="2 whole class numbers"):
        conditional.sample(2, labels=torch.tensor([0.5, 1.0]))
    assert conditional.sample(2, labels=torch.tensor([3, 9])).shape == (2, 1, 8, 8)


@pytest.mark.parametrize("run", [None, 5, ["runs/x"]])
def test_load_refuses_what_is_not_a_run(run: object) -> None:
    with pytest.raises(ConfigError, match="run: expected a run directory"):
        deepgen.load(run)


def test_datasets_and_samplers_check_their_arguments() -> None:
    with pytest.raises(ConfigError, match="expected an ImageSet, got NoneType"):
        ImageDataset(None)
    with pytest.raises(ConfigError, match="batch_size: expected >= 1, got 0"):
        MixedBatchSampler(torch.arange(4), torch.arange(4, 8), batch_size=0, fraction=0.5)
    with pytest.raises(ConfigError, match="batch_size: expected a whole number"):
        MixedBatchSampler.concat(4, 4, batch_size="ten", fraction=0.5)
    assert len(MixedBatchSampler.concat(4, 4, batch_size="2", fraction=0.5).next()) == 2
    data = ImageSet(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 1]), ["a", "b"])
    assert len(ImageDataset(data)) == 2


def test_non_finite_images_are_refused() -> None:
    with pytest.raises(ConfigError, match="NaN or infinite"):
        deepgen.to_pil(torch.full((1, 8, 8), float("nan")))
