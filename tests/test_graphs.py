"""--cuda-graphs: the fallback where graphs cannot be used, and what capture relies on (checked on the CPU;
bench/gpu_check.py checks the graphs themselves on a GPU)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_config
from deepgen.data import load_data
from deepgen.run import WEIGHTS, latest_checkpoint
from deepgen.training import graphs
from deepgen.training.graphs import WARMUP_STEPS, capturable, python_state
from deepgen.training.step import prepare
from deepgen.training.trainer import train


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


def recorded_on_the_cpu(step: Callable[[], torch.Tensor]) -> tuple[Callable[[], None], torch.Tensor]:
    """Stands in for graphs.cuda_graph on a CPU: "capture" runs the step and undoes it (a capture records
    kernels without running them); "replay" runs it again into the captured output tensor."""
    stepper = step.__self__.stepper
    saved = copy.deepcopy((stepper.model.state_dict(), [p.optimizer.state_dict() for p in stepper.phases]))
    rng = torch.get_rng_state()
    out = step()
    stepper.model.load_state_dict(saved[0])
    for phase, state in zip(stepper.phases, saved[1]):
        phase.optimizer.load_state_dict(state)
    torch.set_rng_state(rng)
    return lambda: out.copy_(step()), out


@pytest.fixture
def graphs_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graphs, "unavailable", lambda stepper: None)
    monkeypatch.setattr(graphs, "side_stream", lambda device: nullcontext())
    monkeypatch.setattr(graphs, "capturable", lambda optimizers: nullcontext())
    monkeypatch.setattr(graphs, "cuda_graph", recorded_on_the_cpu)


@pytest.mark.usefixtures("graphs_on_the_cpu")
def test_warm_up_capture_and_replays_train_as_eager_steps(tmp_path: Path) -> None:
    cfg = tiny_config("wgan-gp", tmp_path, critic_steps=2, hflip=True)
    splits = load_data(cfg.data)
    eager = prepare(cfg, splits, torch.device("cpu"))  # seeds the global RNG, as the next prepare does
    steps = [eager() for _ in range(WARMUP_STEPS + 3)]
    cfg.train.cuda_graphs = True
    graphed = prepare(cfg, splits, torch.device("cpu"))
    for terms, stats in steps:
        terms_g, stats_g = graphed()
        assert terms.keys() == terms_g.keys() and stats.keys() == stats_g.keys() and "D/gp" in terms
        assert all(torch.equal(terms[k], terms_g[k]) for k in terms)
        assert all(torch.equal(stats[k], stats_g[k]) for k in stats)
    assert graphed.graph.status == "captured"
    assert graphed.batches.position == eager.batches.position == (WARMUP_STEPS + 3) * 3 * 16
    a, b = eager.model.state_dict(), graphed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.usefixtures("graphs_on_the_cpu")
def test_a_growing_model_falls_back_before_capture(tmp_path: Path) -> None:
    cfg = tiny_config("progan", tmp_path, cuda_graphs=True)
    stepper = prepare(cfg, load_data(cfg.data), torch.device("cpu"))
    with pytest.warns(UserWarning, match=r"training eagerly \(model.seen changed between steps"):
        for _ in range(WARMUP_STEPS + 1):
            stepper()
    assert stepper.graph.status.startswith("fallback: model.seen changed")
