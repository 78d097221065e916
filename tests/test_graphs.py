"""--cuda-graphs: the fallback where graphs cannot be used, and what capture relies on (checked on the CPU;
bench/gpu_check.py checks the graphs themselves on a GPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_config
from deepgen.data import load_data
from deepgen.train.checkpoint import WEIGHTS, latest_checkpoint
from deepgen.train.graphs import capturable, python_state
from deepgen.train.step import prepare
from deepgen.train.trainer import train


def test_cuda_graphs_fall_back_to_the_same_training_on_a_cpu(tmp_path: Path) -> None:
    # several phases, 2 critic repeats and the gradient penalty: the step a graph would capture
    options = {"steps": 4, "critic_steps": 2}
    plain = train(tiny_config("wgan-gp", tmp_path / "plain", **options))
    with pytest.warns(UserWarning, match="--cuda-graphs: training eagerly .CUDA graphs need a CUDA device, not cpu"):
        graphed = train(tiny_config("wgan-gp", tmp_path / "graphed", cuda_graphs=True, **options))
    a = load_file(latest_checkpoint(plain.run) / WEIGHTS)
    b = load_file(latest_checkpoint(graphed.run) / WEIGHTS)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert "cuda_graphs: true" in (graphed.run / "config.yaml").read_text()


@pytest.mark.parametrize(("model", "changes"), [("dcgan", False), ("progan", True)])
def test_a_schedule_held_in_python_is_seen_between_steps(tmp_path: Path, model: str, changes: bool) -> None:
    cfg = tiny_config(model, tmp_path)
    stepper = prepare(cfg, load_data(cfg.data), torch.device("cpu"))
    stepper()
    before = python_state(stepper)
    stepper()
    assert (python_state(stepper) != before) is changes  # ProGAN counts the images it has seen in Python


def test_optimizers_are_capturable_only_while_capturing() -> None:
    weight = torch.nn.Parameter(torch.ones(3))
    adam, sgd = torch.optim.Adam([weight]), torch.optim.SGD([weight])
    weight.grad = torch.ones(3)
    adam.step()
    with capturable([adam, sgd]):
        assert adam.param_groups[0]["capturable"] and "capturable" not in sgd.param_groups[0]
        assert adam.state[weight]["step"].device == weight.device
    assert adam.param_groups[0]["capturable"] is False
