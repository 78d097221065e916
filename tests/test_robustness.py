"""Nothing the user owns is lost, and bad input ends in one line naming the option or file (exit code 2)."""

from __future__ import annotations

import csv
import gzip
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from conftest import TINY_CONV_GAN, tiny_config, write_image
from deepgen.cli import main
from deepgen.errors import NonFiniteLossError
from deepgen.io import UMASK
from deepgen.run import WEIGHTS, checkpoints
from deepgen.training.checkpoint import save_checkpoint
from deepgen.training.metrics_log import MetricsLog
from deepgen.training.runlock import locked, own_run
from deepgen.training.trainer import train
from deepgen.weights import digest, read_weights

TINY = ["--data", "digits", "--batch-size", "16", "--device", "cpu", "--no-tensorboard", "--log-every", "2"]
TINY_VAE = ["vae", *TINY, "--width", "8", "--latent-dim", "2", "--steps", "4"]
MNIST10K = Path(__file__).parents[1] / "src" / "deepgen" / "data" / "mnist10k"


def error_line(capsys: pytest.CaptureFixture) -> str:
    """The one line of stderr a failed command printed (warnings aside)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning:")]
    assert len(lines) == 1, err
    return lines[0]


def fails(args: list[str], capsys: pytest.CaptureFixture, code: int = 2) -> str:
    assert main(args) == code
    return error_line(capsys)


@pytest.fixture(scope="module")
def cgan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A conditional DCGAN trained for two steps on digits."""
    root = tmp_path_factory.mktemp("cgan")
    cfg = tiny_config("dcgan", root / "run", conditional=True, steps=2, checkpoint_every=2, sample_every=2)
    return train(cfg).run


def rewrite_weights(source: Path, target: Path, **changes: object) -> Path:
    """A copy of weights file `source` in folder `target`, with metadata `changes` and a matching digest (what a
    checkpoint from someone else could hold)."""
    tensors, meta = read_weights(source)
    meta = {**meta, **changes}
    meta["sha256"] = digest(tensors, meta)
    target.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(target / WEIGHTS), metadata={"deepgen": json.dumps(meta)})
    return target


# --- the five data-loss cases ----------------------------------------------------------------------------------


def test_keep_checkpoints_must_keep_one(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for keep in ("-1", "0"):
        line = fails(["train", *TINY_VAE, "--keep-checkpoints", keep, "--out", str(tmp_path / "run")], capsys)
        assert "--keep-checkpoints: expected >= 1" in line and not (tmp_path / "run").exists()
    flags = ["--keep-checkpoints", "1", "--checkpoint-every", "1", "--out", str(tmp_path / "run")]
    assert main(["train", *TINY_VAE, *flags]) == 0
    assert [c.name for c in checkpoints(tmp_path / "run")] == ["step_000004"]
    with pytest.raises(ValueError, match="keep must be at least 1"):
        save_checkpoint(tmp_path / "run", 5, torch.nn.Linear(1, 1), {}, 0)  # type: ignore[arg-type]


def test_sampling_never_writes_outside_out_nor_over_files(
    tmp_path: Path, cgan: Path, capsys: pytest.CaptureFixture
) -> None:
    weights = checkpoints(cgan)[-1] / WEIGHTS
    evil = rewrite_weights(weights, tmp_path / "evil", classes=["..", *[str(i) for i in range(1, 10)]])
    out = tmp_path / "box" / "out"
    line = fails(["sample", str(evil), "--per-class", "1", "--out", str(out)], capsys)
    assert "class names ['..']" in line and "sample to FILE.npz" in line
    assert not (tmp_path / "box").exists()  # nothing written, inside or outside --out
    same = rewrite_weights(weights, tmp_path / "same", classes=["a/b", "a_b", *[str(i) for i in range(2, 10)]])
    assert "cannot each name a folder" in fails(["sample", str(same), "--per-class", "1", "--out", str(out)], capsys)

    slashed = rewrite_weights(weights, tmp_path / "slashed", classes=["T-shirt/top", *[str(i) for i in range(1, 10)]])
    assert main(["sample", str(slashed), "--per-class", "1", "--out", str(out)]) == 0
    assert (out / "T-shirt_top" / "000000.png").is_file() and sorted(p.name for p in (tmp_path / "box").iterdir())

    mine = tmp_path / "mine"
    (mine / "0").mkdir(parents=True)  # where the first image of class 0 would go
    (mine / "0" / "000000.png").write_bytes(b"the user's own picture")
    (mine / "notes.txt").write_text("keep")
    line = fails(["sample", str(cgan), "--n", "3", "--out", str(mine)], capsys)
    assert "000000.png" in line and "never overwrites" in line
    assert (mine / "0" / "000000.png").read_bytes() == b"the user's own picture"
    assert main(["sample", str(cgan), "--n", "3", "--out", str(mine / "more")]) == 0
    assert (mine / "notes.txt").read_text() == "keep"
    assert "never overwrites" in fails(["sample", str(cgan), "--n", "3", "--out", str(mine / "more")], capsys)
    assert main(["sample", str(cgan), "--n", "3", "--out", str(tmp_path / "s.npz")]) == 0
    assert "s.npz" in fails(["sample", str(cgan), "--n", "3", "--out", str(tmp_path / "s.npz")], capsys)


def test_augment_rerun_into_out_reuses_only_matching_generators(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "augment"
    args = ["augment", "--data", "digits", "--limit-per-class", "6", "--train-generator", "dcgan", "--seeds", "1"]
    args += ["--ratios", "0", "1", "--max-steps", "3", "--no-classic", "--eps", "--noise", "--blur", "--device", "cpu"]
    args += ["--out", str(out)]
    assert main([*args, "--generator-steps", "2"]) == 0
    assert "dcgan digits seed 0" in capsys.readouterr().err  # the progress bar names the data it trains on
    generator = out / "generators" / "seed0" / "dcgan"
    made = (checkpoints(generator)[-1] / WEIGHTS).stat().st_mtime_ns
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert {r["generator"] for r in rows} == {"", f"dcgan (conditional) trained 2 steps on seed 0's training split "
                                              f"in {generator}"}  # fmt: skip
    assert "Synthetic images from" in (out / "summary.md").read_text()

    line = fails([*args, "--generator-steps", "3"], capsys)
    assert "generator_steps: 2 -> 3" in line and "choose another --out" in line
    assert main([*args, "--generator-steps", "2"]) == 0  # the same experiment again: generators reused
    assert (checkpoints(generator)[-1] / WEIGHTS).stat().st_mtime_ns == made
    assert "digits" in (generator / "config.yaml").read_text()  # what it was trained on, not mnist10k
    capsys.readouterr()

    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.tex").write_text("mine")
    assert "holds no augment.json" in fails([*args[:-1], str(other), "--generator-steps", "2"], capsys)


def test_a_run_directory_has_one_owner(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    with own_run(run, new=True):
        line = fails(["train", *TINY_VAE, "--out", str(run)], capsys)
        assert f"run directory {run} is in use by another deepgen process (pid {os.getpid()})" in line
    assert main(["train", *TINY_VAE, "--out", str(run)]) == 0
    capsys.readouterr()
    with locked(run, "run directory"):
        assert "in use by another deepgen process" in fails(["train", "--resume", str(run), "--steps", "6"], capsys)
    # a process killed while holding the lock leaves it free
    code = f"import os; from pathlib import Path; from deepgen.training.runlock import locked\n" \
           f"with locked(Path({str(run)!r}), 'run'): os.kill(os.getpid(), 9)"  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == -9
    assert main(["train", "--resume", str(run), "--steps", "6"]) == 0


def test_resume_refuses_an_edited_config(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    assert main(["train", *TINY_VAE, "--out", str(run)]) == 0
    capsys.readouterr()
    original = (run / "config.yaml").read_text()
    for edit, shown in [
        (("lr: 0.001", "lr: 0.01"), "lr: 0.001 -> 0.01"),
        (("batch_size: 16", "batch_size: 8"), "batch_size: 16 -> 8"),
        (("seed: 0", "seed: 3"), "seed: 0 -> 3"),
    ]:
        (run / "config.yaml").write_text(original.replace(*edit))
        line = fails(["train", "--resume", str(run), "--steps", "6"], capsys)
        assert shown in line and "bit for bit" in line
    (run / "config.yaml").write_text(original.replace("log_every: 2", "log_every: 1"))  # changes no computation
    assert main(["train", "--resume", str(run), "--steps", "6"]) == 0


# --- checkpoints and run directories -------------------------------------------------------------------------


def test_checkpoint_digest_catches_a_flipped_byte(tmp_path: Path, cgan: Path, capsys: pytest.CaptureFixture) -> None:
    damaged = tmp_path / "damaged"
    shutil.copytree(checkpoints(cgan)[-1], damaged)
    data = bytearray((damaged / WEIGHTS).read_bytes())
    data[-5] ^= 0x10
    (damaged / WEIGHTS).write_bytes(bytes(data))
    line = fails(["sample", str(damaged), "--n", "2", "--out", str(tmp_path / "x.npz")], capsys)
    assert "model.safetensors is damaged" in line


def test_non_finite_weights_are_never_saved(tmp_path: Path) -> None:
    model = torch.nn.BatchNorm1d(2)
    model.running_var.fill_(float("inf"))
    with pytest.raises(NonFiniteLossError, match="non-finite weights or buffers at step 3: running_var"):
        save_checkpoint(tmp_path, 3, model, {}, 1)  # type: ignore[arg-type]
    assert checkpoints(tmp_path) == []


def test_exploding_losses_stop_the_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    flags = ["--steps", "20", "--lr-g", "1e10", "--lr-d", "1e10", "--out", str(tmp_path / "run")]
    flags += [f"--{k.replace('_', '-')}={v}" for k, v in TINY_CONV_GAN.items()]
    assert main(["train", "dcgan", *TINY, *flags]) == 1
    err = capsys.readouterr().err
    assert "loss at step" in err and "Training stopped" in err and "Traceback" not in err
    log = MetricsLog(tmp_path, 0, tensorboard=False)
    log.record(1, {"D/loss": torch.tensor(1e11)}, {})
    with pytest.raises(NonFiniteLossError, match=r"exploded \(\|loss\| > 1e\+10\) loss at step 1"):
        log.flush({})


def test_leftovers_permissions_and_failed_starts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    assert main(["train", *TINY_VAE, "--out", str(run)]) == 0
    ckpt = checkpoints(run)[-1]
    assert ckpt.stat().st_mode & 0o777 == 0o777 & ~UMASK
    killed = run / "checkpoints" / ".step_000006.abc123.tmp"
    killed.mkdir()
    (killed / WEIGHTS).write_bytes(b"half")
    assert main(["train", "--resume", str(run), "--steps", "6"]) == 0
    assert not killed.exists()
    capsys.readouterr()
    new = tmp_path / "new"
    line = fails(["train", *TINY_VAE, "--out", str(new), "--data", f"folder:{tmp_path / 'nowhere'}"], capsys)
    assert "nowhere does not exist" in line and not new.exists()


# --- bad options and files: one line naming them, exit code 2 ----------------------------------------------------


def mnist_root(tmp_path: Path) -> Path:
    """A data root with a small MNIST: the first 20 shipped digits as training and as test split."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    images = gzip.decompress((MNIST10K / "t10k-images-idx3-ubyte.gz").read_bytes())
    labels = gzip.decompress((MNIST10K / "t10k-labels-idx1-ubyte.gz").read_bytes())
    small = {
        "images-idx3-ubyte": images[:4] + (20).to_bytes(4, "big") + images[8:16] + images[16 : 16 + 20 * 784],
        "labels-idx1-ubyte": labels[:4] + (20).to_bytes(4, "big") + labels[8 : 8 + 20],
    }
    for prefix in ("train", "t10k"):
        for name, content in small.items():
            (raw / f"{prefix}-{name}").write_bytes(content)
    return tmp_path


def cifar_root(tmp_path: Path, broken: str = "", data: object = None) -> Path:
    """A data root with a tiny CIFAR-10 (4 random images per batch), `broken` file's content replaced by `data`."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}, protocol=2))
    if broken:
        (folder / broken).write_bytes(pickle.dumps(data, protocol=2))
    return tmp_path


def folder_of(tmp_path: Path, counts: dict[str, int]) -> Path:
    root = tmp_path / "images"
    for label, n in counts.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            write_image(root / label / f"{i}.png", (12, 12), "RGB", seed=i)
    return root


IDX_HEADER = bytes([0, 0, 8, 3, 0, 0])
TRAIN = ["train", "vae", "--device", "cpu", "--data", "digits"]
BAD_OPTIONS = [
    (["--batch-size", "0"], "--batch-size: expected >= 1, got 0"),
    (["--batch-size", "-3"], "--batch-size: expected >= 1, got -3"),
    (["--steps", "inf"], "--steps: expected a whole number, got 'inf'"),
    (["--steps", "0"], "--steps: expected >= 1"),
    (["--steps", "-5"], "--steps: expected >= 1"),
    (["--epochs", "-1"], "--epochs: expected > 0"),
    (["--lr", "-1"], "--lr: expected > 0"),
    (["--lr", "nan"], "--lr: expected a finite number, got 'nan'"),
    (["--checkpoint-every", "0"], "--checkpoint-every: expected >= 1"),
    (["--log-every", "0"], "--log-every: expected >= 1"),
    (["--sample-every", "0"], "--sample-every: expected >= 1"),
    (["--test-fraction", "0"], "--test-fraction: expected > 0 and < 1"),
    (["--test-fraction", "1"], "--test-fraction: expected > 0 and < 1"),
    (["--latent-dim", "-2"], "--latent-dim: expected >= 1"),
    (["--latent-dim", "0"], "--latent-dim: expected >= 1"),
    (["--keep-checkpoints", "-1"], "--keep-checkpoints: expected >= 1"),
    (["--image-size", "2"], "--image-size: expected >= 4"),
    (["--channels", "2"], "--channels: expected 1 or 3"),
    (["--set", "batch_size=0"], "--batch-size: expected >= 1"),
    (["--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
    (["--data", "folder:"], "--data folder: needs a path"),
]
GAN_OPTIONS = [
    (["--critic-steps", "0"], "--critic-steps: expected >= 1"),
    (["--ema-decay", "2"], "--ema-decay: expected >= 0 and < 1"),
    (["--betas-g", "0.5"], "--betas-g: expected 2 values"),
    (["--lr-d", "1e400"], "--lr-d: expected a finite number"),
]
AUGMENT = ["augment", "--data", "digits", "--train-generator", "dcgan", "--device", "cpu"]
OTHER_COMMANDS = [
    ([*AUGMENT, "--val-fraction", "0"], "argument --val-fraction: expected > 0 and < 1, got 0"),
    ([*AUGMENT, "--max-steps", "0"], "argument --max-steps: expected >= 1, got 0"),
    ([*AUGMENT, "--generator-steps", "0"], "argument --generator-steps: expected >= 1, got 0"),
    ([*AUGMENT, "--seeds", "0"], "argument --seeds: expected >= 1 and <= 10000, got 0"),
    ([*AUGMENT, "--ratios", "-1"], "argument --ratios: expected >= 0, got -1"),
    (["eval", "RUN", "--n", "0"], "argument --n: expected >= 1, got 0"),
    (["latent", "RUN", "--grid", "1"], "argument --grid: expected >= 2, got 1"),
    (["evaluator", "train", "--data", "digits", "--steps", "0"], "argument --steps: expected >= 1, got 0"),
    (["compare", "vae", "--data", "digits", "--budget", "3", "--seeds", "-1"], "argument --seeds: expected >= 0"),
    (["sample", "RUN", "--n", "0"], "argument --n: expected >= 1, got 0"),
]


@pytest.mark.parametrize("args,expected", BAD_OPTIONS)
def test_bad_train_options(tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], expected: str) -> None:
    assert expected in fails([*TRAIN, "--out", str(tmp_path / "run"), *args], capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args,expected", GAN_OPTIONS)
def test_bad_gan_options(tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], expected: str) -> None:
    assert expected in fails(["train", "dcgan", "--data", "digits", "--out", str(tmp_path / "run"), *args], capsys)


@pytest.mark.parametrize("args,expected", OTHER_COMMANDS)
def test_bad_options_of_other_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], expected: str
) -> None:
    assert expected in fails([*args, "--out", str(tmp_path / "out")], capsys)


@pytest.mark.parametrize(
    "broken,data,expected",
    [
        ("train-images-idx3-ubyte", IDX_HEADER, "its header needs 16 bytes"),
        ("train-images-idx3-ubyte", bytes([0, 0, 8, 2, 0, 0, 0, 1, 0, 0, 0, 1, 7]), "2-dimensional data; expected"),
        ("train-labels-idx1-ubyte", "swap", "are the images and labels files swapped?"),
        (
            "train-labels-idx1-ubyte",
            bytes([0, 0, 8, 1, 0, 0, 0, 20]) + bytes([12] * 20),
            "labels 12 ... 12; expected 0",
        ),
        ("t10k-images-idx3-ubyte", b"\x1f\x8b garbage", "bad magic number"),
    ],
)
def test_bad_idx_files(
    tmp_path: Path, capsys: pytest.CaptureFixture, broken: str, data: bytes | str, expected: str
) -> None:
    root = mnist_root(tmp_path)
    if data == "swap":
        data = (root / "MNIST" / "raw" / "train-images-idx3-ubyte").read_bytes()
    (root / "MNIST" / "raw" / broken).write_bytes(data)  # type: ignore[arg-type]
    line = fails(["train", "vae", "--data", "mnist", "--data-root", str(root), "--out", str(tmp_path / "r")], capsys)
    assert expected in line and broken in line


@pytest.mark.parametrize(
    "broken,data,expected",
    [
        ("batches.meta", {"names": []}, "expected a dict with label_names"),
        ("batches.meta", {"label_names": "cat"}, "expected 'label_names' to be a list of class names"),
        ("data_batch_1", [1, 2, 3], "data_batch_1 is not a CIFAR-10 python batch: expected a dict with data, labels"),
        (
            "data_batch_2",
            {"data": np.zeros((4, 10), np.uint8), "labels": [0] * 4},
            "expected 'data' as uint8 (N, 3072)",
        ),
        ("test_batch", {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 11]}, "has labels 0 ... 11"),
        ("data_batch_3", {"data": "pixels", "labels": [0]}, "data_batch_3: expected 'data' as uint8"),
    ],
)
def test_bad_cifar_files(
    tmp_path: Path, capsys: pytest.CaptureFixture, broken: str, data: object, expected: str
) -> None:
    root = cifar_root(tmp_path, broken, data)
    line = fails(["train", "vae", "--data", "cifar10", "--data-root", str(root), "--out", str(tmp_path / "r")], capsys)
    assert expected in line and broken in line


@pytest.mark.parametrize(
    "counts,flags,expected",
    [
        ({"a": 1}, [], "class a has a single image"),
        ({f"c{i}": 2 for i in range(6)}, ["--test-fraction", "0.2"], "one per class"),
    ],
)
def test_too_few_images_to_split(
    tmp_path: Path, capsys: pytest.CaptureFixture, counts: dict, flags: list[str], expected: str
) -> None:
    root = folder_of(tmp_path, counts)
    args = ["train", "vae", "--data", f"folder:{root}", "--image-size", "8", *flags, "--out", str(tmp_path / "r")]
    line = fails(args, capsys)
    assert expected in line and str(root) in line and not (tmp_path / "r").exists()


def test_hidden_class_folders_are_named(tmp_path: Path) -> None:
    root = folder_of(tmp_path, {"a": 3, "b": 3, ".ipynb_checkpoints": 1})
    from deepgen.config import DataConfig
    from deepgen.data import load_data

    with pytest.warns(UserWarning, match=r"ignored hidden folder\(s\) .ipynb_checkpoints"):
        assert load_data(DataConfig(data=f"folder:{root}", image_size=8)).train.classes == ["a", "b"]


def test_bad_files_and_paths(tmp_path: Path, cgan: Path, capsys: pytest.CaptureFixture) -> None:
    weights = checkpoints(cgan)[-1] / WEIGHTS
    cases = [
        (rewrite_weights(weights, tmp_path / "neg", model_config={"noise_dim": -2}), "noise_dim: expected >= 1"),
        (rewrite_weights(weights, tmp_path / "shape", shape="abc"), "invalid metadata shape='abc'"),
        (rewrite_weights(weights, tmp_path / "cls", classes=7), "invalid metadata classes=7"),
    ]
    for ckpt, expected in cases:
        line = fails(["sample", str(ckpt), "--n", "2", "--out", str(tmp_path / "x.npz")], capsys)
        assert expected in line and str(ckpt / WEIGHTS) in line
    (tmp_path / "file").write_text("mine")
    line = fails(["sample", str(cgan), "--n", "2", "--out", str(tmp_path / "file")], capsys)
    assert f"--out {tmp_path / 'file'} is a file" in line
    line = fails(["sample", str(cgan), "--n", "2", "--out", str(tmp_path / "file" / "sub")], capsys)
    assert f"lies under {tmp_path / 'file'}, which is a file" in line
    line = fails(["train", *TINY_VAE, "--out", str(tmp_path / "file")], capsys)
    assert f"--out {tmp_path / 'file'} is a file" in line
    assert "cannot create run directory" in fails(["train", *TINY_VAE, "--out", str(tmp_path / "file/run")], capsys)
    assert (tmp_path / "file").read_text() == "mine"
    config = tmp_path / "c.yaml"
    config.write_text("model: 5\n")
    assert f"{config}: expected a mapping with a 'model' key naming a model" in fails(
        ["train", "--config", str(config)], capsys
    )
    config.write_text("model: vae\ntrain: {batch_size: 0}\n")
    assert f"{config}: train: batch_size: expected >= 1, got 0" in fails(["train", "--config", str(config)], capsys)
