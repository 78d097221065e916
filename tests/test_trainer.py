"""The training loop: exact resume, atomic checkpoints, NaN stop, safe loading, outputs."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import ctrl_c_at_call, tiny_config
from deepgen.config import RunConfig
from deepgen.errors import CheckpointError, NonFiniteLossError, OutputError
from deepgen.io import atomic_write_bytes
from deepgen.models.vae import VAE
from deepgen.run import STATE, WEIGHTS, checkpoints, latest_checkpoint
from deepgen.training import checkpoint as ckpt_module
from deepgen.training.trainer import train
from deepgen.weights import load_state


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(latest_checkpoint(run) / WEIGHTS)


@pytest.mark.parametrize("model", ["vae", "ae"])
def test_resume_continues_bit_for_bit(tmp_path: Path, model: str) -> None:
    extra = {"noise_std": 0.2} if model == "ae" else {}  # the AE's noise draws exercise the RNG state too
    whole = train(tiny_config(model, tmp_path / "whole", steps=10, checkpoint_every=5, hflip=True, **extra))
    first = train(tiny_config(model, tmp_path / "split", steps=5, checkpoint_every=100, hflip=True, **extra))
    assert first.step == 5
    cfg = RunConfig.load(tmp_path / "split" / "config.yaml")
    cfg.train.steps = 10
    second = train(cfg, resume=True)
    assert second.step == 10
    a, b = weights(whole.run), weights(second.run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    state_a, state_b = load_state(whole.checkpoint / STATE), load_state(second.checkpoint / STATE)
    exp_avg = lambda s: [v["exp_avg"] for v in s["optimizers"][model]["state"].values()]  # noqa: E731
    assert all(torch.equal(x, y) for x, y in zip(exp_avg(state_a), exp_avg(state_b)))
    assert state_a["data_position"] == state_b["data_position"] == 10 * 16
    rows = lambda run: map(json.loads, (run / "metrics.jsonl").read_text().splitlines())  # noqa: E731
    logged = lambda run: [r["step"] for r in rows(run) if f"{model}/recon" in r]  # noqa: E731
    assert logged(whole.run) == logged(second.run) == [2, 4, 5, 6, 8, 10]


def test_resume_discards_log_rows_written_after_the_checkpoint(tmp_path: Path) -> None:
    run = train(tiny_config("vae", tmp_path / "run", steps=4, checkpoint_every=100)).run
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 9, "vae/recon": 1.0}) + "\n" + '{"step": 10, "vae/re')  # a killed run's torn line
    cfg = RunConfig.load(run / "config.yaml")
    cfg.train.steps = 6
    train(cfg, resume=True)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "vae/loss" in r] == [2, 4, 6]
    assert max(r["step"] for r in rows) == 6


def test_checkpoint_written_only_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny_config("vae", tmp_path / "run", steps=6, checkpoint_every=3)
    real = ckpt_module.write_synced
    calls = []

    def dies_mid_write(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) == 4:  # the second checkpoint's state file: half of it, then the process "dies"
            path.write_bytes(data[: len(data) // 2])
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(ckpt_module, "write_synced", dies_mid_write)
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    run = tmp_path / "run"
    assert [d.name for d in checkpoints(run)] == ["step_000003"]
    assert not [p for p in (run / "checkpoints").iterdir() if p.name != "step_000003"]
    assert load_state(latest_checkpoint(run) / STATE)["step"] == 3
    monkeypatch.setattr(ckpt_module, "write_synced", real)
    (run / "checkpoints" / ".step_000006.abc.tmp").mkdir()  # what a SIGKILL mid-write leaves behind
    assert latest_checkpoint(run).name == "step_000003"
    cfg.train.steps = 6
    assert train(cfg, resume=True).step == 6


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "file.bin"
    atomic_write_bytes(target, b"old")

    def fail(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OutputError, match=f"cannot write {target}: disk full"):
        atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_non_finite_loss_stops_with_step_and_terms_keeping_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real_loss = VAE.loss

    def loss(self, phase, batch):  # noqa: ANN001, ANN202
        out = real_loss(self, phase, batch)
        calls["n"] += batch.x.device.type != "meta"  # the memory estimate's step runs on the meta device
        if calls["n"] >= 5:
            out.terms["kl"] = out.terms["kl"] * float("nan")
        return out

    monkeypatch.setattr(VAE, "loss", loss)
    cfg = tiny_config("vae", tmp_path / "run", steps=20, log_every=10, checkpoint_every=2)
    with pytest.raises(NonFiniteLossError) as error:
        train(cfg)
    message = str(error.value)
    assert "non-finite loss at step 5" in message and "vae/kl=nan" in message and "vae/recon=" in message
    assert "last good checkpoint is" in message and "step_000004" in message
    assert latest_checkpoint(tmp_path / "run").name == "step_000004"
    assert all(torch.isfinite(t).all() for t in weights(tmp_path / "run").values())


class RunsCode:
    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.target,))


def test_training_state_that_would_run_code_is_refused(tmp_path: Path) -> None:
    run = train(tiny_config("vae", tmp_path / "run")).run
    evil = latest_checkpoint(run) / STATE
    evil.write_bytes(pickle.dumps({"step": 6, "x": RunsCode(tmp_path / "pwned")}, protocol=2))
    with pytest.raises(CheckpointError, match="refusing to load .*state.pt") as refused:
        load_state(evil)
    assert "weights_only" not in str(refused.value)
    cfg = RunConfig.load(run / "config.yaml")
    cfg.train.steps = 8
    with pytest.raises(CheckpointError, match="state.pt is damaged: it does not match the SHA-256"):
        train(cfg, resume=True)  # the digest in the weights' metadata catches it before unpickling
    assert not (tmp_path / "pwned").exists()


def test_run_directory_outputs(tmp_path: Path) -> None:
    cfg = tiny_config("vae", tmp_path / "run", tensorboard=True)
    result = train(cfg)
    run = result.run
    assert (run / "loss_curves.png").stat().st_size > 1000
    assert (run / "samples" / "step_000003.png").is_file() and (run / "samples" / "recon_step_000006.png").is_file()
    assert list((run / "tb").glob("events.out.tfevents.*"))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"vae/recon", "vae/kl", "vae/loss", "img_per_s"} <= rows[0].keys()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["n_images"] == 360 and 0 < metrics["recon_mse"] < 1
    assert RunConfig.load(run / "config.yaml").to_dict() == cfg.to_dict()


def test_bf16_autocast_on_cpu(tmp_path: Path) -> None:
    result = train(tiny_config("vae", tmp_path / "run", precision="bf16"))
    rows = [json.loads(line) for line in (result.run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["vae/loss"] for r in rows if "vae/loss" in r]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))  # steps 2, 3 (checkpoint), 4, 6


def test_epochs_set_the_number_of_steps(tmp_path: Path) -> None:
    result = train(tiny_config("ae", tmp_path / "run", epochs=0.5, batch_size=100))
    assert result.step == 8  # ceil(0.5 * 1437 training images / 100)


def test_ctrl_c_checkpoints_after_the_current_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctrl_c_at_call(monkeypatch, VAE, 3)
    result = train(tiny_config("vae", tmp_path / "run", steps=20, checkpoint_every=100))
    assert result.interrupted and result.step == 3 and latest_checkpoint(result.run).name == "step_000003"


def test_stages_get_their_grid_and_batch_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A staged model (ProGAN) chooses its batch size per step; a grid is saved as each stage ends."""
    steps = {"n": 0}
    monkeypatch.setattr(VAE, "after_step", lambda self, phase: steps.update(n=steps["n"] + 1))
    monkeypatch.setattr(VAE, "stage", lambda self: "early" if steps["n"] < 4 else "late")
    monkeypatch.setattr(VAE, "current_batch_size", lambda self, default: 8 if steps["n"] < 4 else 24)
    result = train(tiny_config("vae", tmp_path / "run", steps=6))
    samples = {p.name for p in (result.run / "samples").iterdir()}
    assert {"stage-early.png", "recon_stage-early.png"} <= samples and "stage-late.png" not in samples
    assert load_state(result.checkpoint / STATE)["data_position"] == 4 * 8 + 2 * 24


def test_time_limit_ends_the_run_normally(tmp_path: Path) -> None:
    result = train(tiny_config("vae", tmp_path / "run", steps=100_000, time_limit=1.0))
    assert 0 < result.step < 100_000 and not result.interrupted
    assert latest_checkpoint(result.run).name == f"step_{result.step:06d}" and (result.run / "metrics.json").is_file()


def test_channels_last_trains_the_same_model(tmp_path: Path) -> None:
    plain = train(tiny_config("dcgan", tmp_path / "plain", data="mnist10k", limit_per_class=8))
    fast = train(tiny_config("dcgan", tmp_path / "fast", data="mnist10k", limit_per_class=8, channels_last=True))
    a, b = weights(plain.run), weights(fast.run)
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)  # the same arithmetic in another memory order


@pytest.mark.slow
def test_compiled_networks_train_like_eager_ones(tmp_path: Path) -> None:
    eager = train(tiny_config("dcgan", tmp_path / "eager", data="mnist10k", limit_per_class=8))
    compiled = train(tiny_config("dcgan", tmp_path / "compiled", data="mnist10k", limit_per_class=8, compile=True))
    a, b = weights(eager.run), weights(compiled.run)
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-3) for k in a)


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / "report.html", b"<html></html>")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o666 & ~umask
