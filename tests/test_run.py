"""deepgen.run: opening a run (config, checkpoints, model, metrics, health warnings), its errors, new run names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_config
from deepgen.cli import main
from deepgen.errors import CheckpointError, ConfigError
from deepgen.models.vae import VAE
from deepgen.run import CONFIG, METRICS, WEIGHTS, checkpoints, new_run_name, numbered, open_run
from deepgen.training.trainer import train

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VAE trained for three steps on digits (checkpoints at steps 2 and 3)."""
    out = tmp_path_factory.mktemp("run") / "vae"
    return train(tiny_config("vae", out, steps=3, checkpoint_every=2, keep_checkpoints=5)).run


def test_open_a_trained_run(vae_run: Path) -> None:
    run = open_run(vae_run)
    assert run.path == vae_run and [c.name for c in run.checkpoints()] == ["step_000002", "step_000003"]
    assert run.checkpoint == checkpoints(vae_run)[-1]
    assert run.config.model == "vae" and run.config.data.data == "digits" and run.config.train.steps == 3
    loaded = run.load(CPU)
    assert isinstance(loaded.model, VAE) and loaded.step == 3 and not loaded.model.training
    saved = load_file(run.checkpoint / WEIGHTS)
    assert all(torch.equal(saved[k], v) for k, v in loaded.model.state_dict().items())
    assert [r["step"] for r in run.metrics() if "vae/loss" in r] == [2, 3]
    assert run.warnings() == []


def test_open_a_checkpoint_of_a_run(vae_run: Path) -> None:
    first = checkpoints(vae_run)[0]
    run = open_run(first)
    assert run.path == vae_run and run.checkpoint == first and run.load(CPU).step == 2
    assert run.config.model == "vae"


def test_health_warnings_are_read_back(vae_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / CONFIG).write_text((vae_run / CONFIG).read_text())
    rows = (vae_run / METRICS).read_text()
    warning = {"step": 3, "health": "constant", "message": "step 3: samples are constant; lower the lr"}
    (copy / METRICS).write_text(rows + json.dumps(warning) + "\n" + '{"step": 4, "va')  # and a torn last line
    run = open_run(copy)
    assert run.warnings() == [warning["message"]] and run.metrics()[-1] == warning


def test_a_missing_or_broken_run_gives_one_error_naming_it(vae_run: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'nowhere'} is not a run directory: it does not exist"):
        open_run(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'file'} is not a run directory: a file"):
        open_run(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'empty'} is not a run directory .*no {CONFIG}"):
        open_run(tmp_path / "empty")
    (tmp_path / "unstarted").mkdir()
    (tmp_path / "unstarted" / CONFIG).write_text((vae_run / CONFIG).read_text())
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'unstarted'} has no checkpoint"):
        open_run(tmp_path / "unstarted").load(CPU)


def test_a_corrupt_config_or_checkpoint_is_named(vae_run: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    ckpt = broken / "checkpoints" / "step_000003"
    ckpt.mkdir(parents=True)
    (broken / CONFIG).write_text("model: [unclosed")
    data = bytearray((checkpoints(vae_run)[-1] / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF  # one bit of the last tensor
    (ckpt / WEIGHTS).write_bytes(bytes(data))
    run = open_run(broken)
    with pytest.raises(ConfigError, match=f"{broken / CONFIG} is not valid YAML"):
        assert run.config
    with pytest.raises(CheckpointError, match=f"{ckpt / WEIGHTS} is damaged"):
        run.load(CPU)


def test_commands_report_a_missing_run_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for command in (["sample", str(tmp_path / "gone"), "--out", str(tmp_path / "s")], ["eval", str(tmp_path / "gone")]):
        assert main(command) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1 and f"{tmp_path / 'gone'} is not a run directory" in err[0], err


def test_new_names_are_numbered_and_never_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "cmp"
    assert numbered(base) == base
    base.mkdir()
    assert numbered(base) == tmp_path / "cmp-2"
    (tmp_path / "cmp-2").write_text("a file is taken too")
    assert numbered(base) == tmp_path / "cmp-3"
    monkeypatch.chdir(tmp_path)
    first = new_run_name("vae", "digits")
    assert first == Path("runs/vae-digits") and not first.exists()
    first.mkdir(parents=True)
    assert new_run_name("vae", "digits") == Path("runs/vae-digits-2")
