"""Issue 37 parts 3-5: one validation path for the command line, --set, YAML and the Python API; files that are never
overwritten or left half-written; options that cannot take effect refused."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch

import deepgen
from conftest import TINY_MODEL, write_image
from deepgen.cli import main
from deepgen.config import RunConfig
from deepgen.data.imageset import ImageSet
from deepgen.data.mixing import ImageDataset, MixedBatchSampler
from deepgen.errors import ConfigError
from deepgen.io import to_json
from deepgen.registry import get_model
from deepgen.training.metrics_log import MetricsLog

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


# --- part 5: files -----------------------------------------------------------------------------------------------
TINY = ["--data", "digits", "--device", "cpu", "--no-tensorboard", "--sample-every", "100", "--batch-size", "16"]


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("checks") / "vae"
    assert main(["train", "vae", *TINY, "--steps", "2", "--width", "8", "--latent-dim", "2", "--out", str(run)]) == 0
    return run


def error_line(code: int, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("deepgen: error: ")]
    assert len(lines) == 1
    return code, lines[0]


def test_save_grid_never_overwrites_unless_asked(vae_run: Path) -> None:
    plot = vae_run / "loss_curves.png"
    before = plot.read_bytes()
    images = torch.zeros(4, 1, 8, 8)
    with pytest.raises(ConfigError, match="exists already; choose another path, or give overwrite=True"):
        deepgen.save_grid(images, plot)
    assert plot.read_bytes() == before
    copy = vae_run.parent / "grid.png"
    deepgen.save_grid(images, copy)
    deepgen.save_grid(images, copy, overwrite=True)


def test_sample_refuses_an_out_inside_a_run(vae_run: Path, capsys: pytest.CaptureFixture) -> None:
    for out in (vae_run, vae_run / "more", vae_run / "s.npz"):
        code, line = error_line(main(["sample", str(vae_run), "--n", "2", "--out", str(out)]), capsys)
        assert code == 2 and "lies in the run directory" in line
    assert not (vae_run / "more").exists() and not (vae_run / "s.npz").exists()


def test_style_mix_of_a_vae_exits_2(vae_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["sample", str(vae_run), "--style-mix", "2", "--out", str(tmp_path / "m.png")]
    code, line = error_line(main(args), capsys)
    assert code == 2 and "no styles to mix" in line


def test_metrics_write_null_not_nan(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path, 0, tensorboard=False)
    log.write({"step": 1, "G/loss": float("nan"), "D/loss": float("inf"), "ok": 1.5})
    line = (tmp_path / "metrics.jsonl").read_text()
    assert json.loads(line) == {"step": 1, "G/loss": None, "D/loss": None, "ok": 1.5}
    assert "NaN" not in line and "Infinity" not in line
    assert to_json({"a": [float("nan"), {"b": float("-inf")}]}) == '{"a": [null, {"b": null}]}'


def test_inspect_escapes_html_and_lists_dangling_links(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "data"
    for name in ("<img src=x onerror=alert(1)>", "b"):
        (folder / name).mkdir(parents=True)
        for i in range(3):
            write_image(folder / name / f"{i}.png", (8, 8), "L", seed=i + len(name))
    (folder / "b" / "gone.png").symlink_to(tmp_path / "missing.png")
    assert main(["inspect", "--data", f"folder:{folder}", "--out", str(tmp_path / "out")]) == 0
    report = (tmp_path / "out" / "inspect.md").read_text()
    assert "<img" not in report and "&lt;img src=x onerror=alert(1)&gt;" in report
    assert "b/gone.png" in report and "unreadable" in report


# --- part 3: options silently ignored or overridden ---------------------------------------------------------------
@pytest.mark.parametrize(
    "given, named",
    [
        (["--latent-dim", "4", "--set", "latent_dim=3"], "--latent-dim and --set latent_dim=3 both set latent_dim"),
        (["--set", "out=X"], "--out and --set out=X both set out"),
        (["--set", "width=4", "--set", "model_config.width=6"], "--set width=4 and --set model_config.width=6"),
    ],
)
def test_one_option_in_two_spellings_is_refused(given: list[str], named: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    code, line = error_line(main(["train", "vae", *TINY, "--steps", "1", "--out", str(out), *given]), capsys)
    assert code == 2 and named in line and line.endswith("give it once")
    assert not out.exists() and not Path("X").exists()


def test_the_api_refuses_a_keyword_and_a_set_pair_for_one_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="latent_dim and set latent_dim=3 both set latent_dim"):
        deepgen.train("vae", data="digits", steps=1, latent_dim=4, set=["latent_dim=3"], out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_resume_refuses_another_out(vae_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--resume RUN --out OTHER used to extend and prune RUN; now it is refused and RUN is untouched."""
    before = sorted(p.name for p in (vae_run / "checkpoints").iterdir())
    resume = ["train", "--resume", str(vae_run), "--steps", "4"]
    code, line = error_line(main([*resume, "--out", str(tmp_path / "o")]), capsys)
    assert code == 2 and "--out cannot send it elsewhere" in line
    assert sorted(p.name for p in (vae_run / "checkpoints").iterdir()) == before and not (tmp_path / "o").exists()
    code, line = error_line(main([*resume, "--width", "3"]), capsys)
    assert code == 2 and "--out" not in line.partition("not ")[0]  # no longer offered as changeable


def test_a_resumed_run_reports_the_training_time_of_every_session(tmp_path: Path) -> None:
    """compare reports result.elapsed_s: a continued comparison counts the earlier sessions too."""
    flags = {"data": "digits", "device": "cpu", "tensorboard": False, "width": 8, "sample_every": 100}
    first = deepgen.train("vae", steps=2, out=tmp_path / "r", **flags)
    second = deepgen.train("vae", resume=first, steps=4)
    assert 0 < first.elapsed_s < second.elapsed_s
    again = deepgen.train("vae", resume=first, steps=4)  # trained to its steps: it just finishes again
    assert again.elapsed_s >= second.elapsed_s


@pytest.mark.parametrize(
    "args, named",
    [
        (["train", "vae", "--steps", "3", "--epochs", "1"], "--steps cannot take effect with --epochs"),
        (["train", "wgan-gp", "--clip-value", "0.1"], "--clip-value takes effect only with --regularizer clip"),
        (["train", "wgan", "--set", "gp_lambda=5"], "--gp-lambda takes effect only with --regularizer gp"),
        (["train", "diffusion", "--no-conditional", "--guidance", "3"], "--guidance takes effect only with"),
    ],
)
def test_train_options_that_cannot_take_effect_are_refused(args: list[str], named: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    code, line = error_line(main([*args, *TINY, "--out", str(out)]), capsys)
    assert code == 2 and named in line and not out.exists()


def test_the_api_refuses_them_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="steps cannot take effect with epochs"):
        deepgen.train("vae", data="digits", steps=3, epochs=1, out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--strength", "0.3"], "--strength takes effect only with --from-images"),
        (["--n", "5", "--interpolate", "2"], "--n cannot take effect with --interpolate"),
        (["--per-class", "2", "--style-mix", "2"], "--per-class cannot take effect with --style-mix"),
    ],
)
def test_sample_options_that_cannot_take_effect_are_refused(
    extra: list[str], named: str, vae_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, line = error_line(main(["sample", str(vae_run), *extra, "--out", str(tmp_path / "x.png")]), capsys)
    assert code == 2 and named in line and not (tmp_path / "x.png").exists()


def test_inspect_to_a_read_only_out_says_so(tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture) -> None:
    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    code, line = error_line(main(["inspect", "--data", "digits", "--out", str(tmp_path / "out")]), capsys)
    assert code == 1 and f"cannot write {tmp_path / 'out'}" in line and "read-only" in line


def test_a_full_disk_at_the_run_lock_is_one_line(tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture) -> None:
    """compare and augment take their folder's lock first: a full disk there is an OutputError, not a traceback."""

    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    code, line = error_line(main(["train", "vae", *TINY, "--steps", "1", "--out", str(tmp_path / "run")]), capsys)
    assert code == 1 and "cannot write" in line and "the disk is full" in line
