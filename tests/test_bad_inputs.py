"""The last bad inputs of the QA probe (issue 28), each as its command shrunk: nothing lost, nothing hung, one line."""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

import deepgen
import deepgen.augmentation.cells
from conftest import ctrl_c_at_call, write_image
from deepgen.cli import main
from deepgen.errors import ConfigError
from deepgen.models.vae import VAE
from deepgen.run import CONFIG, RESULTS, WEIGHTS, latest_checkpoint
from deepgen.weights import digest

SRC = Path(deepgen.__file__).parents[1]  # the deepgen under test, for child processes
TINY = ["--data", "digits", "--batch-size", "16", "--width", "8", "--latent-dim", "2", "--device", "cpu"]
TINY += ["--no-tensorboard", "--log-every", "2", "--sample-every", "3", "--checkpoint-every", "3"]
EVAL_FLAGS = ["--evaluator-steps", "40", "--cas-steps", "20", "--n", "100", "--eval-device", "cpu"]


@pytest.fixture(autouse=True)
def cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPGEN_CACHE", str(tmp_path_factory.getbasetemp() / "deepgen-cache"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vae run of 6 steps (checkpoints at 3 and 6); tests copy it before changing it."""
    run = tmp_path_factory.mktemp("trained") / "vae"
    assert main(["train", "vae", *TINY, "--steps", "6", "--out", str(run)]) == 0
    return run


@pytest.fixture
def run_copy(trained: Path, tmp_path: Path) -> Path:
    shutil.copytree(trained, tmp_path / "vae")
    return tmp_path / "vae"


def cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """Exit code and stderr of `deepgen ARGS`."""
    code = main(args)
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    """The error line of stderr (progress bars and warnings aside); fails on a traceback, or on more than one line of
    error (what follows the 'deepgen: error:' line up to the end, bar warnings)."""
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("deepgen: error: ")]
    assert "Traceback" not in err and len(errors) == 1, err
    assert all(line.startswith("warning:") for line in lines[errors[0] + 1 :]), err
    return lines[errors[0]]


def rewrite_metadata(weights: Path, change: callable, resign: bool = True) -> None:
    """Edit the deepgen metadata of a weights file as a hostile sharer would: `change(meta)`, digest recomputed."""
    with safe_open(weights, framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = json.loads(f.metadata()["deepgen"])
    change(meta)
    if resign and "sha256" in meta:
        meta["sha256"] = digest(tensors, meta)
    save_file(tensors, weights, metadata={"deepgen": json.dumps(meta)})


def sandboxed(script: str, mount: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `script` (shell) in a private mount namespace, after `mount` (shell) set up a small or read-only file
    system; skips where this machine allows no such namespace (it needs CAP_SYS_ADMIN)."""
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True) if shutil.which("unshare") else None
    if probe is None or probe.returncode:
        pytest.skip("needs unshare -m (root with CAP_SYS_ADMIN) to mount a small file system")
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", f"{mount} && {script}"], capture_output=True, text=True, env=env, timeout=timeout
    )


# --- 1. metadata that asks for a huge model -------------------------------------------------------------
def test_1_metadata_asking_for_a_huge_image_is_refused_in_one_line(run_copy: Path, tmp_path: Path, capsys) -> None:
    weights = latest_checkpoint(run_copy) / WEIGHTS
    rewrite_metadata(weights, lambda meta: meta.update(shape=[1, 40000, 40000]))
    code, err = cli(["sample", str(run_copy), "--n", "2", "--out", str(tmp_path / "s")], capsys)
    assert code == 2 and "shape" in one_line(err) and "1024" in err


def test_1_metadata_asking_for_wider_layers_than_stored_is_refused_before_building(run_copy: Path, capsys) -> None:
    """Widths are checked against the weights the file holds on the meta device, before any memory is taken."""
    weights = latest_checkpoint(run_copy) / WEIGHTS
    rewrite_metadata(weights, lambda meta: meta["model_config"].update(width=4096, latent_dim=1 << 20))
    code, err = cli(["sample", str(run_copy), "--n", "2", "--out", str(run_copy / "s.npz")], capsys)
    assert code == 2 and "refusing to build it" in one_line(err) and "weights, but the file stores" in err


# --- 2. deepgen eval while the run trains --------------------------------------------------------------
def test_2_the_trainer_keeps_the_evaluation_in_metrics_json(run_copy: Path, capsys) -> None:
    """eval writes into metrics.json while the run is still training; the trainer's end-of-run write merges."""
    assert main(["eval", str(run_copy), *EVAL_FLAGS]) == 0
    evaluated = json.loads((run_copy / RESULTS).read_text())["eval"]
    assert main(["train", "--resume", str(run_copy), "--steps", "8"]) == 0  # the run ends after the evaluation
    results = json.loads((run_copy / RESULTS).read_text())
    assert results["eval"] == evaluated and results["step"] == 8


# --- 3. compare interrupted, then run again ---------------------------------------------------------
def test_3_an_interrupted_compare_continues_where_it_stopped(tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "cmp"
    args = ["compare", "vae", "ae", "--data", "digits", "--device", "cpu", "--budget", "6", "--out", str(out)]
    args += ["--set", "batch_size=16", "--set", "width=8", "--set", "latent_dim=2", "--set", "tensorboard=false"]
    args += ["--set", "checkpoint_every=2", *EVAL_FLAGS]
    with monkeypatch.context() as mp:
        ctrl_c_at_call(mp, VAE, 3)
        code, err = cli(args, capsys)
    assert code == 130 and "the same command" in one_line(err)
    stopped = latest_checkpoint(out / "runs" / "vae-seed0")
    code, err = cli(args, capsys)
    assert code == 0, err
    with (out / "results.csv").open(newline="") as f:
        rows = {r["model"]: r for r in csv.DictReader(f)}
    assert rows["vae"]["steps"] == "6" and rows["ae"]["steps"] == "6"
    rows = [json.loads(line) for line in (out / "runs" / "vae-seed0" / "metrics.jsonl").open()]
    assert stopped.name == "step_000003" and [r["step"] for r in rows if "vae/recon" in r] == [2, 3, 4, 6]  # resumed
    other = [a if a != "ae" else "gan" for a in args]
    code, err = cli(other, capsys)
    assert code == 2 and "other settings" in one_line(err)


# --- 4. --resume with fewer steps than done ---------------------------------------------------------
def test_4_resume_to_fewer_steps_than_the_run_has_is_refused(run_copy: Path, capsys) -> None:
    config = (run_copy / CONFIG).read_text()
    code, err = cli(["train", "--resume", str(run_copy), "--steps", "5"], capsys)
    assert code == 2 and "at step 6 already" in one_line(err) and "--steps above 6" in err
    assert (run_copy / CONFIG).read_text() == config


# --- 5. a weights file without its digest -------------------------------------------------------------
def test_5_a_checkpoint_without_its_digest_is_refused(run_copy: Path, tmp_path: Path, capsys) -> None:
    weights = latest_checkpoint(run_copy) / WEIGHTS
    rewrite_metadata(weights, lambda meta: meta.pop("sha256"), resign=False)
    code, err = cli(["train", "--resume", str(run_copy), "--steps", "8"], capsys)
    assert code == 2 and "no SHA-256" in one_line(err)
    code, err = cli(["sample", str(run_copy), "--n", "2", "--out", str(tmp_path / "s.npz")], capsys)
    assert code == 2 and "no SHA-256" in one_line(err)


# --- 6. a folder whose classes cannot all be in training ------------------------------------------------
def test_6_a_folder_with_a_single_image_per_class_is_refused(tmp_path: Path, capsys) -> None:
    for i, name in enumerate(["cat", "dog"]):
        (tmp_path / "pets" / name).mkdir(parents=True)
        write_image(tmp_path / "pets" / name / "a.png", (8, 8), "L", seed=i)
    args = ["train", "vae", *TINY[2:], "--data", f"folder:{tmp_path / 'pets'}", "--steps", "2"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torch std() warning either
        code, err = cli([*args, "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and "classes cat, dog have a single image" in one_line(err)


# --- 7. augment on one class ----------------------------------------------------------------------------
def test_7_augment_on_a_one_class_folder_is_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / "scans" / "only").mkdir(parents=True)
    for i in range(12):
        write_image(tmp_path / "scans" / "only" / f"{i}.png", (8, 8), "L", seed=i)
    args = ["augment", "--data", f"folder:{tmp_path / 'scans'}", "--ratios", "0", "--seeds", "1", "--max-steps", "3"]
    code, err = cli([*args, "--no-classic", "--device", "cpu", "--out", str(tmp_path / "aug")], capsys)
    assert code == 2 and "one class (only)" in one_line(err)


# --- 8. sample --out x.jpg ------------------------------------------------------------------------------
def test_8_sample_to_a_jpg_writes_a_jpeg_grid(trained: Path, tmp_path: Path, capsys) -> None:
    assert main(["sample", str(trained), "--n", "4", "--out", str(tmp_path / "x.jpg")]) == 0
    assert (tmp_path / "x.jpg").is_file()
    with Image.open(tmp_path / "x.jpg") as grid:
        assert grid.format == "JPEG" and grid.size == (22, 22)  # 2 x 2 images of 8 px, 2 px padding
    code, err = cli(["sample", str(trained), "--n", "4", "--out", str(tmp_path / "x.gif")], capsys)
    assert code == 2 and "not .gif files" in one_line(err) and not (tmp_path / "x.gif").exists()


# --- 9. full and read-only disks --------------------------------------------------------------------
def fill_disk(monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    """The disk fills up: every fsync after the first `after` fails as on a full disk (ENOSPC)."""
    real, calls = os.fsync, [0]

    def fsync(fd: int) -> None:
        calls[0] += 1
        if calls[0] > after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_9_a_disk_that_fills_while_training_stops_it_in_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    run = tmp_path / "run"
    real_loss = VAE.loss

    def loss(self, phase, batch):  # noqa: ANN001, ANN202
        if len(list((run / "checkpoints").glob("step_*"))) == 1:  # once the first checkpoint is on the disk
            fill_disk(monkeypatch, 0)
        return real_loss(self, phase, batch)

    monkeypatch.setattr(VAE, "loss", loss)
    code, err = cli(["train", "vae", *TINY, "--steps", "6", "--out", str(run)], capsys)
    line = one_line(err)
    assert code == 1 and "the disk is full" in line and f"continue from {run}/checkpoints/step_000003" in line
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--steps", "6"]) == 0  # the checkpoint kept is whole


def test_9_a_disk_that_fills_while_sampling_leaves_no_partial_pngs(trained: Path, tmp_path: Path, monkeypatch, capsys):
    fill_disk(monkeypatch, 10)
    code, err = cli(["sample", str(trained), "--n", "40", "--out", str(tmp_path / "s")], capsys)
    assert code == 1 and "cannot write" in one_line(err) and "the disk is full" in err
    assert list(tmp_path.iterdir()) == []


def test_9_a_disk_that_fills_during_augment_stops_it_in_one_line_and_the_same_command_continues(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    out = tmp_path / "augment"
    args = ["augment", "--data", "digits", "--limit-per-class", "6", "--seeds", "2", "--ratios", "0", "--max-steps"]
    args += ["3", "--eps", "0.1", "--noise", "--blur", "--robust-n", "20", "--attack-steps", "2", "--device", "cpu"]
    real_write, written = deepgen.augmentation.cells.atomic_write_text, []

    def write_then_fill(path: Path, text: str) -> None:  # the disk fills once two cells are on it
        real_write(path, text)
        written.append(path)
        if len(written) == 2:
            fill_disk(monkeypatch, 0)

    monkeypatch.setattr(deepgen.augmentation.cells, "atomic_write_text", write_then_fill)
    code, err = cli([*args, "--out", str(out)], capsys)
    assert code == 1 and "the disk is full" in one_line(err)
    monkeypatch.undo()
    assert main([*args, "--out", str(out)]) == 0
    assert "2 of 4 cells done, 2 to run" in capsys.readouterr().out


def test_9_a_disk_that_fills_during_compare_stops_it_in_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    real_loss, calls = VAE.loss, [0]

    def loss(self, phase, batch):  # noqa: ANN001, ANN202
        calls[0] += 1
        if calls[0] == 3:
            fill_disk(monkeypatch, 0)
        return real_loss(self, phase, batch)

    monkeypatch.setattr(VAE, "loss", loss)
    args = ["compare", "vae", "ae", "--data", "digits", "--device", "cpu", "--budget", "6", "--out", str(tmp_path)]
    args += ["--set", "batch_size=16", "--set", "width=8", "--set", "latent_dim=2", "--set", "tensorboard=false"]
    code, err = cli([*args, *EVAL_FLAGS], capsys)
    assert code == 1 and "the disk is full" in one_line(err)


@pytest.mark.slow  # ~40 s (a fresh interpreter in a mount namespace): a real full tmpfs
def test_9_training_onto_a_full_disk_stops_in_one_line(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    train = [sys.executable, "-m", "deepgen", "train", "vae", *TINY, "--steps", "60", "--out", str(disk / "run")]
    done = sandboxed(" ".join(train), f"mount -t tmpfs -o size=48k tmpfs {disk}")
    assert done.returncode == 1 and "the disk is full" in one_line(done.stderr), done.stderr


@pytest.mark.slow  # ~35 s: a real full tmpfs
def test_9_sampling_onto_a_full_disk_leaves_no_partial_pngs(trained: Path, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    sample = [sys.executable, "-m", "deepgen", "sample", str(trained), "--n", "200", "--out", str(disk / "s")]
    mount = f"mount -t tmpfs -o size=64k tmpfs {disk}"
    done = sandboxed(f"{' '.join(sample)}; code=$?; ls -A {disk}; exit $code", mount)
    assert done.returncode == 1 and "the disk is full" in one_line(done.stderr), done.stderr
    assert done.stdout.split() == []  # no partial PNGs, no empty folder


@pytest.mark.slow  # ~35 s: a real read-only tmpfs
def test_9_sampling_to_a_read_only_folder_says_so(trained: Path, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    sample = [sys.executable, "-m", "deepgen", "sample", str(trained), "--n", "3", "--out", str(disk / "s")]
    done = sandboxed(" ".join(sample), f"mount -t tmpfs -o ro tmpfs {disk}")
    assert done.returncode == 1 and "read-only: write elsewhere" in one_line(done.stderr), done.stderr


# --- 10. huge image size and seed ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "flags, expected",
    [(["--image-size", "100000"], "--image-size: expected >= 4 and <= 1024"), (["--seed", "9" * 20], "--seed")],
)
def test_10_image_size_and_seed_have_upper_bounds(tmp_path: Path, capsys, flags: list[str], expected: str) -> None:
    code, err = cli(["train", "vae", *TINY, "--steps", "2", *flags, "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and expected in one_line(err)


def test_10_the_sample_seed_has_an_upper_bound(trained: Path, tmp_path: Path, capsys) -> None:
    code, err = cli(["sample", str(trained), "--seed", "9" * 20, "--out", str(tmp_path / "s.npz")], capsys)
    assert code == 2 and "--seed" in one_line(err)


# --- 11. latent --out onto a file ----------------------------------------------------------------------
def test_11_latent_out_onto_an_existing_file_is_refused(trained: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "taken").write_text("mine")
    code, err = cli(["latent", str(trained), "--out", str(tmp_path / "taken")], capsys)
    assert code == 2 and "is, or lies under, a file" in one_line(err)
    assert (tmp_path / "taken").read_text() == "mine"


# --- 12. the Python API's bad arguments ----------------------------------------------------------------
def test_12_train_with_no_model_name_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected the name of a model .* got None"):
        deepgen.train(None, data="digits", steps=2, out=str(tmp_path / "run"))


@pytest.mark.parametrize("n", [-1, 0, 2.5, "4", True])
def test_12_sample_with_a_bad_count_is_a_config_error(trained: Path, n: object) -> None:
    model = deepgen.load(trained, device="cpu")
    with pytest.raises(ConfigError, match=r"sample\(n\): expected a whole number of images >= 1"):
        model.sample(n)


# --- 13. set=[...] in the Python API --------------------------------------------------------------------
def test_13_the_python_api_takes_set_as_the_readme_says(tmp_path: Path) -> None:
    options = {"data": "digits", "batch_size": 16, "device": "cpu", "tensorboard": False, "width": 8}
    run = deepgen.train("vae", steps=3, set=["latent_dim=2", "hidden=[16]"], out=str(tmp_path / "run"), **options)
    saved = yaml.safe_load((run.run / CONFIG).read_text())["model_config"]
    assert saved["latent_dim"] == 2 and saved["hidden"] == [16]
    again = deepgen.train("vae", resume=run, steps=4, set=["log_every=1"])
    assert again.step == 4
    with pytest.raises(ConfigError, match="not latent_dim"):
        deepgen.train("vae", resume=run, steps=5, set=["latent_dim=3"])


# --- 14. latent_dim edited in config.yaml before --resume ---------------------------------------------
def test_14_an_edited_latent_dim_is_named_as_a_configuration_change(run_copy: Path, capsys) -> None:
    config = yaml.safe_load((run_copy / CONFIG).read_text())
    config["model_config"]["latent_dim"] = 4
    (run_copy / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))
    code, err = cli(["train", "--resume", str(run_copy), "--steps", "8"], capsys)
    assert code == 2 and "configuration changed since step_000006: latent_dim: 2 -> 4" in one_line(err)


def test_14_an_option_the_model_lacks_added_to_config_yaml_is_refused_by_resume(
    run_copy: Path, tmp_path: Path, capsys
) -> None:
    config = yaml.safe_load((run_copy / CONFIG).read_text())
    config["model_config"]["noise_dim"] = 3  # a GAN's option: the VAE has none
    (run_copy / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))
    code, err = cli(["train", "--resume", str(run_copy), "--steps", "8"], capsys)
    assert code == 2 and f"{run_copy / CONFIG}: model_config: unknown option 'noise_dim'" in one_line(err)
    assert latest_checkpoint(run_copy).name == "step_000006"  # nothing trained
    code, err = cli(["sample", str(run_copy), "--n", "2", "--out", str(tmp_path / "x.npz")], capsys)
    assert code == 0  # sample builds the model from the checkpoint's own record of its options, not config.yaml


# --- 15. the Python API names keyword arguments -----------------------------------------------------
def test_15_api_errors_name_keyword_arguments_not_flags(run_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^steps: expected >= 1, got 0$"):
        deepgen.train("vae", steps=0, out=str(tmp_path / "run"))
    with pytest.raises(ConfigError) as refused:
        deepgen.train("vae", resume=run_copy, steps=8, latent_dim=3)
    assert "resume continues" in str(refused.value) and "--" not in str(refused.value)
    with pytest.raises(ConfigError, match=r"^unrecognized arguments: budgets 3; did you mean 'budget'\?$"):
        deepgen.compare(["vae"], data="digits", budget="3", budgets=3, out=tmp_path / "cmp")


def test_15_the_command_line_keeps_its_flags(tmp_path: Path, capsys) -> None:
    code, err = cli(["train", "vae", *TINY, "--steps", "0", "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "--steps" in one_line(err)
