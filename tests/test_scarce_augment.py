"""Good generators where they matter: augment passes options to the generators it trains, the auto sizing turns
differentiable augmentation on for scarce data, remedies name the flags of the command being run, warnings say when
a symptom clears, unusable generators are refused before anything trains, conditional grids have a row per class."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from conftest import tiny_config
from deepgen.augmentation import cells, sources
from deepgen.augmentation.sources import generator_flags
from deepgen.cli import main
from deepgen.config import RunConfig
from deepgen.data.imageset import ImageSet
from deepgen.errors import ConfigError
from deepgen.models.configs.adversarial import SCARCE_IMAGES, SCARCE_STEPS
from deepgen.models.sizing import DEFAULT_STEPS, Sizing
from deepgen.run import METRICS, read_jsonl
from deepgen.training.health import HealthMonitor, HealthNote, HealthWarning, episodes, remedy, verdict
from deepgen.training.metrics_log import MetricsLog
from deepgen.training.runlock import locked
from deepgen.training.trainer import train
from deepgen.viz.grids import class_grid

QUICK = ["--ratios", "0", "1", "--seeds", "1", "--max-steps", "5", "--no-classic", "--eps", "--noise", "--blur"]


def augment_args(out: Path, *extra: str) -> list[str]:
    return [
        "augment",
        "--data",
        "digits",
        "--limit-per-class",
        "6",
        *QUICK,
        "--device",
        "cpu",
        "--out",
        str(out),
        *extra,
    ]


@pytest.mark.parametrize("name", ["gan", "dcgan", "wgan-gp", "progan"])
def test_the_auto_rule_turns_augmentation_on_below_the_threshold_and_off_above(name: str) -> None:
    def sized(images: int, classes: int = 10) -> dict:
        return RunConfig.default(name).size_to(Sizing(28, 1, images, "cpu", n_classes=classes))

    scarce, plenty = sized(SCARCE_IMAGES - 1), sized(SCARCE_IMAGES)
    assert (scarce["augment"], scarce["augment_ops"], scarce["steps"]) == (
        "fixed",
        ["translation", "color"],
        SCARCE_STEPS,
    )
    assert (plenty["augment"], plenty["steps"]) == ("off", DEFAULT_STEPS)
    assert RunConfig.default("vae").size_to(Sizing(28, 1, 10, "cpu", n_classes=10))["steps"] == DEFAULT_STEPS
    assert sized(SCARCE_IMAGES - 1, classes=1)["augment"] == "fixed"  # a per-class generator's split
    assert sized(SCARCE_IMAGES, classes=2)["augment"] == "off"  # the count is of images, not images per class
    given = RunConfig.default(name)
    given.apply_overrides(["augment=off", "steps=7"])
    assert not {"augment", "steps"} & set(given.size_to(Sizing(28, 1, 10, "cpu", n_classes=10)))


def test_a_scarce_training_run_records_the_sized_augmentation(tmp_path: Path) -> None:
    cfg = tiny_config("dcgan", tmp_path / "run", augment=None, augment_ops=None, limit_per_class=3, steps=2)
    saved = yaml.safe_load((train(cfg).run / "config.yaml").read_text())["model_config"]
    assert (saved["augment"], saved["augment_ops"]) == ("fixed", ["translation", "color"])


def test_generator_options_reach_the_trained_generators_config(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    earlier = train(tiny_config("dcgan", tmp_path / "earlier", lecam=0.25, g_width=4, d_width=4, noise_dim=8)).run
    out = tmp_path / "augment"
    args = augment_args(out, "--train-generator", "dcgan", "--generator-steps", "3")
    args += ["--generator-config", str(earlier / "config.yaml"), "--generator-set", "augment=adaptive", "lr_d=3e-4"]
    assert main(args) == 0
    config = yaml.safe_load((out / "generators" / "seed0" / "dcgan" / "config.yaml").read_text())
    model = config["model_config"]
    assert (model["augment"], model["lr_d"], model["lecam"], model["g_width"]) == ("adaptive", 3e-4, 0.25, 4)
    assert (config["train"]["steps"], config["train"]["seed"], model["conditional"]) == (3, 0, True)
    assert config["data"]["data"] == "digits" and config["data"]["limit_per_class"] == 6  # the experiment's data
    row = next(r for r in csv.DictReader((out / "results.csv").open()) if r["variant"] == "dcgan x1")
    recorded = json.loads(row["generator_settings"])
    assert (recorded["augment"], recorded["lr_d"], recorded["lecam"], recorded["steps"]) == ("adaptive", 3e-4, 0.25, 3)
    assert json.loads((out / "provenance" / "seed0-dcgan-generator.json").read_text()) == recorded
    assert json.loads((out / "augment.json").read_text())["generator_options"]["dcgan"]["augment"] == "adaptive"
    assert main(args[:-2] + ["augment=fixed", "lr_d=3e-4"]) == 2  # other generator settings into the same --out
    assert "holds an experiment with other settings (generator_set" in capsys.readouterr().err


def test_a_generator_another_process_is_still_training_is_not_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = augment_args(tmp_path / "augment", "--train-generator", "dcgan", "--generator-steps", "3")
    assert main(args) == 0
    run = tmp_path / "augment" / "generators" / "seed0" / "dcgan"
    shutil.rmtree(run / "checkpoints")  # as if its owner, still alive, had not reached its first checkpoint
    shutil.rmtree(tmp_path / "augment" / "cells" / "6pc" / "seed0" / "generator")  # and its cell not finished
    with locked(run, "run directory"):
        assert main(args) == 2  # the same command continues the experiment, but must not take the run over
    assert "is in use by another deepgen process" in capsys.readouterr().err
    assert (run / "config.yaml").is_file()


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (["--train-generator", "vae"], "vae cannot draw a requested class.*--per-class-generators"),
        (["--train-generator", "dcgan", "--vary", "0.3"], "--vary: --train-generator dcgan cannot vary images"),
        (["--train-generator", "ae", "--per-class-generators"], "ae cannot draw new images"),
        (["--train-generator", "dcgan", "--unlabeled", "5000"], "--unlabeled 5000: .* leaves \\d+ other images"),
        (["--train-generator", "dcgan", "--generator-set", "seed=3"], "use --seeds"),
        (["--train-generator", "dcgan", "--generator-set", "lr_d=-1"], "--generator-set lr_d=-1: .*--lr-d"),
        (["--train-generator", "dcgan", "--generator-set", "no_such=1"], "unknown option 'no_such'"),
        (["--generator-set", "lecam=0.1", "--train-generator", "dcgan", "--generator-config", "nope.yaml"], "nope"),
    ],
)
def test_an_unusable_generator_is_refused_before_anything_trains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, extra: list[str], error: str
) -> None:
    steps = []
    monkeypatch.setattr(cells, "fit", lambda *a, **k: steps.append("classifier"))
    monkeypatch.setattr(sources, "train", lambda *a, **k: steps.append("generator"))
    assert main(augment_args(tmp_path / "out", *extra)) == 2
    assert steps == []  # no classifier and no generator trained a single step
    err = capsys.readouterr().err
    assert err.startswith("deepgen: error: ") and re.search(error, err), err
    assert not (tmp_path / "out" / "augment.json").exists()  # nothing claimed: the corrected command may use --out


def test_a_failed_experiments_record_does_not_block_the_corrected_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"

    def broken(*args: object, **kwargs: object) -> None:
        raise ConfigError("the generator broke")

    monkeypatch.setattr(sources, "train_generator", broken)
    assert main(augment_args(out, "--train-generator", "gan", "--generator-steps", "2")) == 2
    assert json.loads((out / "augment.json").read_text())["failed"] is True
    monkeypatch.undo()
    assert main(augment_args(out, "--train-generator", "dcgan", "--generator-steps", "2")) == 0
    assert "failed" not in json.loads((out / "augment.json").read_text())
    assert main(augment_args(out, "--train-generator", "gan", "--generator-steps", "2")) == 2  # a finished one holds


def test_the_remedy_under_augment_names_an_augment_flag(tmp_path: Path) -> None:
    out = tmp_path / "augment"
    broken = ["augment=off", "lr_g=1e-9", "lr_d=0.05", "log_every=1"]  # the critic wins at once
    args = augment_args(out, "--train-generator", "dcgan", "--generator-steps", "12", "--generator-set", *broken)
    with pytest.warns(HealthWarning, match="critic has won"):
        assert main(args) == 0
    (message,) = [r["message"] for r in read_jsonl(out / "generators" / "seed0" / "dcgan" / METRICS) if r.get("health")]
    assert "--generator-set augment=fixed augment_ops=translation,color" in message and "--augment " not in message
    assert "--generator-set lecam=0.1" in message and "--generator-set lr_d=1e-4" in message
    assert "stayed broken" in (out / "summary.md").read_text()
    report = (out / "report.html").read_text()
    assert "all training images per class" not in report and "at most 6 training images per class" in report
    assert "Training health: broken" in report and "recipe plain_x1" in report


def test_remedies_name_only_options_the_run_has_and_does_not_use_yet() -> None:
    dcgan = {
        f: getattr(RunConfig.default("dcgan").model_config, f) for f in ("augment", "augment_ops", "lecam", "lr_d")
    }
    text = remedy("critic_wins", dcgan | {"augment": "fixed", "augment_ops": ["translation", "color"]})
    assert "--augment fixed" not in text and "--lecam 0.1" in text  # augmentation is already on
    assert "--augment" not in remedy("collapse", {"steps": 2000, "lr_d": 1e-3})  # a VAE has no --augment
    assert "--steps N" in remedy("collapse", {"steps": 2000})
    assert generator_flags({"steps": "N", "lecam": "0.1"}) == "--generator-set lecam=0.1 --generator-steps N"


def test_a_symptom_that_clears_is_noted_and_the_run_counts_as_recovered(tmp_path: Path) -> None:
    real = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))

    real_set = ImageSet(real, torch.arange(40) % 2, ["a", "b"])
    health = HealthMonitor(MetricsLog(tmp_path, 0, tensorboard=False), real_set, 0.2, total=1000)
    won = {"D/saturation": 1.0, "D/d_real": 0.99, "D/d_fake": 0.01}
    with pytest.warns(HealthWarning, match=r"step 40: the critic has won .*\(early: step 40 of 1000"):
        for step in range(0, 50, 10):
            health.check_row({"step": step, **won})
    with pytest.warns(HealthNote, match=r"step 140: cleared: the critic no longer wins \(30% "):
        for step in range(100, 150, 10):
            health.check_row({"step": step, "D/saturation": 0.3, "D/d_real": 0.7, "D/d_fake": 0.3})
    with pytest.warns(HealthNote, match="every symptom warned of has cleared"):
        health.finish(1000)
    found = episodes(read_jsonl(tmp_path / METRICS))
    assert verdict(found) == "recovered" and found[0].cleared == 140 and "gone at step 1000" in found[0].at_end
    with pytest.warns(HealthWarning, match="step 1140 again: the critic has won"):
        for step in range(1100, 1150, 10):
            health.check_row({"step": step, **won})
    health.finish(1150)
    assert verdict(episodes(read_jsonl(tmp_path / METRICS))) == "broken"


def test_a_conditional_grid_has_a_row_per_class(tmp_path: Path) -> None:
    labels = torch.tensor([1, 0, 1, 0, 1, 0])
    images = (labels * 255).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 4, 4)
    grid = class_grid(images, labels)
    assert grid.shape == (3, 2 + 2 * 6, 2 + 3 * 6)  # 2 rows (classes) of 3, 4 px images with 2 px padding
    assert grid[0, 2:6, 2:6].eq(0).all() and grid[0, 8:12, 2:6].eq(255).all()  # class 0 on top
    shades = torch.tensor([10, 20, 30], dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 4, 4)
    uneven = class_grid(shades, torch.tensor([2, 0, 2]), classes=4)  # class 1 and 3 empty, class 0 short
    assert uneven.shape == (3, 2 + 4 * 6, 2 + 2 * 6) and uneven[0, 2:6, 2:6].eq(20).all()
    assert uneven[0, 2:6, 8:12].eq(255).all()  # a blank cell ends the row of class 0
    assert uneven[0, 14:18, 2:6].eq(10).all() and uneven[0, 14:18, 8:12].eq(30).all()  # class 2 in the third row
    run = train(tiny_config("dcgan", tmp_path / "run", conditional=True, steps=3)).run
    width, height = Image.open(run / "samples" / "step_000003.png").size
    assert (width, height) == (2 + 6 * 10, 2 + 10 * 10)  # digits: 10 classes, a row of 6 each (60 of 64 images)
