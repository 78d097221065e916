"""The command line contract: train, resume, --config, sample, models, datasets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from deepgen.cli import main
from deepgen.run import WEIGHTS, latest_checkpoint

TINY = [
    "--data",
    "digits",
    "--steps",
    "4",
    "--batch-size",
    "16",
    "--width",
    "8",
    "--latent-dim",
    "2",
    "--device",
    "cpu",
    "--no-tensorboard",
    "--log-every",
    "2",
]


def run(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_sample_resume_and_config(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir = tmp_path / "vae"
    code, out, _ = run(["train", "vae", *TINY, "--out", str(run_dir)], capsys)
    assert code == 0 and f"run directory: {run_dir}" in out and "samples" in out and "loss_curves.png" in out

    code, out, _ = run(["sample", str(run_dir), "--n", "5", "--out", str(tmp_path / "pngs")], capsys)
    assert code == 0 and str(tmp_path / "pngs") in out
    pngs = sorted((tmp_path / "pngs").glob("*.png"))
    assert len(pngs) == 5 and Image.open(pngs[0]).size == (8, 8)

    assert main(["sample", str(run_dir), "--n", "7", "--out", str(tmp_path / "s.npz")]) == 0
    images = np.load(tmp_path / "s.npz")["images"]
    assert images.shape == (7, 1, 8, 8) and images.dtype == np.uint8
    assert main(["sample", str(run_dir), "--n", "7", "--out", str(tmp_path / "s2.npz"), "--seed", "0"]) == 0
    assert np.array_equal(np.load(tmp_path / "s2.npz")["images"], images)  # same seed, same images
    assert main(["sample", str(run_dir), "--n", "9", "--out", str(tmp_path / "grid.png")]) == 0
    assert Image.open(tmp_path / "grid.png").size == (32, 32)  # 3 x 3 images of 8 px with 2 px padding

    code, out, _ = run(["train", "--resume", str(run_dir), "--steps", "6"], capsys)
    assert code == 0 and "step_000006" in out

    code, _, err = run(["train", "--resume", str(run_dir), "--steps", "8", "--lr", "0.1"], capsys)
    assert code == 2 and "can change only" in err and "lr" in err

    again = tmp_path / "again"
    assert main(["train", "--config", str(run_dir / "config.yaml"), "--out", str(again), "--steps", "6"]) == 0
    a, b = load_file(latest_checkpoint(run_dir) / WEIGHTS), load_file(latest_checkpoint(again) / WEIGHTS)
    assert all(torch.equal(a[k], b[k]) for k in a)  # config.yaml reproduces the run


def test_existing_run_directory_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("mine")
    code, _, err = run(["train", "ae", *TINY, "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and "--resume" in err and (tmp_path / "run" / "keep.txt").read_text() == "mine"


def test_autoencoder_cannot_be_sampled(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "ae", *TINY, "--out", str(tmp_path / "ae")]) == 0
    code, _, err = run(["sample", str(tmp_path / "ae"), "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "no prior to sample from" in err


def test_default_run_directory_is_numbered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "ae", *TINY]) == 0
    assert main(["train", "ae", *TINY]) == 0
    assert (tmp_path / "runs" / "ae-digits").is_dir() and (tmp_path / "runs" / "ae-digits-2").is_dir()


def test_datasets_export_writes_a_class_folder_that_reads_back(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import torch

    from deepgen.config import DataConfig
    from deepgen.data import load_data
    from deepgen.data.sources import read_digits

    out = tmp_path / "scans"
    code, printed, _ = run(["datasets", "--export", "digits", str(out), "--per-class", "3"], capsys)
    assert code == 0 and printed.startswith(f"wrote 30 images of digits into {out}/") and f"folder:{out}" in printed
    assert sorted(p.name for p in out.iterdir()) == [str(d) for d in range(10)]
    digits, _ = read_digits(DataConfig(data="digits"))
    first = torch.cat([torch.nonzero(digits.labels == c).squeeze(1)[:3] for c in range(10)])
    back = load_data(DataConfig(data=f"folder:{out}", test_fraction=0.5, dedupe=False))
    written = torch.cat([back.train.images, back.test.images])
    assert sorted(map(bytes, written.flatten(1).numpy())) == sorted(map(bytes, digits.images[first].flatten(1).numpy()))
    code, _, err = run(["datasets", "--export", "digits", str(out)], capsys)
    assert code == 2 and f"--export: {out} exists and is not an empty folder" in err
    code, _, err = run(["datasets", "--per-class", "3"], capsys)
    assert code == 2 and "--per-class goes with --export NAME DIR" in err


def test_listings_and_usage(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["models"], capsys)
    assert code == 0 and out.startswith("ae ") and "\nvae " in out
    code, out, _ = run(["datasets"], capsys)
    assert code == 0 and "mnist10k" in out and "folder" in out
    assert main(["train"]) == 2
    assert "name a MODEL" in capsys.readouterr().err
    code, _, err = run(["train", "gan2"], capsys)
    assert code == 2 and "unknown model 'gan2'" in err


def test_console_script_runs() -> None:
    script = Path(sys.executable).parent / "deepgen"
    out = subprocess.run([str(script), "models"], capture_output=True, text=True, check=True)
    assert "vae" in out.stdout
