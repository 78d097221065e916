"""The experiment as cells: robust statistics, classifiers that learned nothing, continuing, --jobs, submitit."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
import re
import signal
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

from deepgen.augmentation.cells import TIMING, Cell, plan, run_cell
from deepgen.augmentation.config import AugmentConfig
from deepgen.augmentation.stats import pack, paired_difference, seeds_needed
from deepgen.augmentation.summary import summarise
from deepgen.cli import main
from deepgen.config import DataConfig

TINY = ["--data", "digits", "--limit-per-class", "6", "--max-steps", "3", "--eps", "0.1", "--noise", "--blur"]
TINY += ["--robust-n", "20", "--attack-steps", "2", "--attack-restarts", "1", "--device", "cpu"]


def rows(values: dict[str, tuple[list[float], list[float]]], baselines: dict[str, str], nothing=()) -> list[dict]:
    """Constructed rows: per variant (clean, pgd@0.1) accuracy on each seed; `nothing`: (variant, seed) pairs whose
    classifier learned nothing."""
    g = np.random.default_rng(0)
    out = []
    for variant, (clean, robust) in values.items():
        for seed, (c, r) in enumerate(zip(clean, robust)):
            out.append({
                "seed": seed, "classifier": "cnn", "variant": variant, "baseline": baselines.get(variant, ""),
                "accuracy": c, "balanced_accuracy": c, "macro_f1": c, "pgd@0.1": r, "robust_images": 200,
                "correct": pack(g.random(200) < c), "robust_correct": f'{{"pgd@0.1": "{pack(g.random(200) < r)}"}}',
                "learned_nothing": "predicts one class for every test image" if (variant, seed) in nothing else "",
            })  # fmt: skip
    return out


def test_a_large_robust_difference_with_no_clean_difference_is_tested_and_concluded() -> None:
    clean = [0.90, 0.92, 0.91, 0.93, 0.90]
    base, at = [0.10, 0.12, 0.08, 0.11, 0.09], [0.60, 0.66, 0.58, 0.63, 0.61]
    text = summarise(rows({"real": (clean, base), "real+fgsm-AT": (clean, at)}, {"real+fgsm-AT": "real"}), 5)
    d, half, p = paired_difference(at, base)
    robust = text[text.index("### Robust accuracy, pgd@0.1") :]
    assert (
        f"| real+fgsm-AT | real | {100 * np.mean(at):.2f}" in robust and f"{100 * d:.2f} ± {100 * half:.2f}" in robust
    )
    assert f"| {p:.3g} | {p:.3g} |" in robust and p < 0.001  # one comparison: Holm leaves p as it is
    assert f"the largest change in robust accuracy under pgd@0.1 is real+fgsm-AT against real: {100 * d:+.2f}" in text
    assert f"significant (p = {p:.3g}, Holm)" in text
    assert "the largest change in test accuracy is real+fgsm-AT against real: +0.00 points" in text
    assert "identical on every seed" in text  # the clean difference is zero on every seed: no p-value


def test_a_classifier_that_learned_nothing_is_named_and_left_out_of_the_robust_comparison() -> None:
    clean = [0.90, 0.92, 0.91, 0.93, 0.90]
    base = [0.10, 0.12, 0.08, 0.11, 0.09]
    pool = [0.61, 0.61, 0.15, 0.61, 0.14]  # seeds 0, 1, 3: one class for every image (the majority share)
    at = [0.30, 0.35, 0.28, 0.33, 0.31]
    values = {"real": (clean, base), "real+fgsm-AT": (clean, at), "gan pool+fgsm-AT": ([0.61] * 5, pool)}
    baselines = {"real+fgsm-AT": "real", "gan pool+fgsm-AT": "real+fgsm-AT"}
    text = summarise(rows(values, baselines, nothing={("gan pool+fgsm-AT", s) for s in (0, 1, 3)}), 5)
    assert "Learned nothing — not scored for robustness: gan pool+fgsm-AT (seeds 0, 1, 3)" in text
    assert "--synthetic-fraction" in text
    assert "14.50 ± 6.35 (3 of 5 seeds learned nothing)" in text  # the mean of seeds 2 and 4 only
    assert "cannot test: 2 seed(s), 3 needed" in text[text.index("| gan pool+fgsm-AT | real+fgsm-AT") :]
    d = paired_difference(at, base)[0]
    assert f"the largest change in robust accuracy under pgd@0.1 is real+fgsm-AT against real: {100 * d:+.2f}" in text


def test_the_seeds_needed_grow_as_the_effect_shrinks() -> None:
    noisy = [0.19, -0.05, 0.35, 0.10, 0.26]
    assert seeds_needed(noisy) == pytest.approx(9, abs=1) and seeds_needed([0.5, 0.52, 0.49]) == 3
    assert seeds_needed([d / 4 for d in noisy]) == seeds_needed(noisy) and seeds_needed([0.0, 0.0]) is None
    assert seeds_needed([0.19, -0.15, 0.35, -0.10, 0.06]) > 20


def cell_times(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in (out / "cells").glob("**/*.json")}


def test_continuing_runs_only_the_missing_cells(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "augment"
    args = ["augment", *TINY, "--seeds", "2", "--ratios", "0", "--adversarial", "none", "fgsm", "--out", str(out)]
    assert main(args) == 0
    assert "0 of 8 cells done, 8 to run" in capsys.readouterr().out
    before, results = cell_times(out), (out / "results.csv").read_text()
    lost = out / "cells" / "6pc" / "seed1" / "baseline" / "small-cnn" / "fgsm" / "classic.json"
    lost.unlink()  # as if killed while it trained
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "7 of 8 cells done, 1 to run" in printed and "cell 1/1 6pc/seed1/baseline/small-cnn/fgsm/classic" in printed
    after = cell_times(out)
    assert {k: v for k, v in after.items() if k != str(lost.relative_to(out))} == {
        k: v for k, v in before.items() if k != str(lost.relative_to(out))
    }  # nothing else was trained again
    assert strip_timing((out / "results.csv").read_text()) == strip_timing(results)
    assert main(args + ["--seeds", "3"]) == 0  # more seeds continue the same experiment
    assert "8 of 12 cells done, 4 to run" in capsys.readouterr().out


def strip_timing(text: str) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(text.splitlines())]


def test_two_jobs_give_the_rows_of_one(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import torch

    common = ["augment", *TINY, "--seeds", "2", "--ratios", "0", "--no-classic", "--adversarial", "none", "fgsm"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what each of 2 workers gets on this 2-core machine: the same arithmetic
    try:
        assert main([*common, "--out", str(tmp_path / "one")]) == 0
    finally:
        torch.set_num_threads(threads)
    assert main([*common, "--jobs", "2", "--out", str(tmp_path / "two")]) == 0
    assert f"2 worker processes, {max(1, (os.cpu_count() or 1) // 2)} thread(s) each" in capsys.readouterr().out
    one, two = (strip_timing((tmp_path / d / "results.csv").read_text()) for d in ("one", "two"))
    assert one == two and len(one) == 4


class KillOnce:
    """A submitit task that kills its own process (as SLURM's scancel or an OOM kill would) on one cell."""

    def __init__(self, key: str):
        self.key = key

    def __call__(self, cfg: AugmentConfig, cell: Cell) -> str:
        if cell.key == self.key:
            os.kill(os.getpid(), signal.SIGKILL)
        return run_cell(cfg, cell)


def test_a_tiny_experiment_through_submitit_and_a_killed_task_continued(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("submitit")
    out = tmp_path / "augment"
    args = ["augment", *TINY, "--seeds", "1", "--ratios", "0", "--no-classic", "--adversarial", "none", "fgsm"]
    args += ["--launcher", "submitit-local", "--out", str(out)]
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setattr(
        "deepgen.augmentation.runner.CellTask", lambda: KillOnce("6pc/seed0/baseline/small-cnn/fgsm/real")
    )
    assert main(args) == 1  # not a bad input: the same command continues
    captured = capsys.readouterr()
    assert "6pc/seed0/baseline/small-cnn/fgsm/real failed" in captured.out
    assert "1 of 2 cells did not finish" in captured.err and not (out / "summary.md").exists()
    monkeypatch.undo()
    assert main(args) == 0  # the next continue runs the killed task's cell only
    printed = capsys.readouterr().out
    assert "1 of 2 cells done, 1 to run (submitit-local job arrays through submitit)" in printed
    assert "submitted a job array of 1 task(s)" in printed and (out / "summary.md").is_file()
    assert len(list(csv.DictReader((out / "results.csv").open()))) == 2


def test_slurm_dry_run_prints_the_job_arrays_and_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("submitit")
    out = tmp_path / "augment"
    args = ["augment", *TINY, "--seeds", "3", "--ratios", "0", "1", "--train-generator", "dcgan", "--no-classic"]
    args += ["--launcher", "slurm", "--dry-run", "--slurm-partition", "gpu", "--slurm-gpus", "1", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "0 of 9 cells done, 9 to run" in printed
    assert "wave 1, a job array of 6 task(s)" in printed and "wave 2, a job array of 3 task(s)" in printed
    assert "#SBATCH --array=0-5%6" in printed and "#SBATCH --partition=gpu" in printed
    assert "#SBATCH --gpus-per-node=1" in printed and not out.exists()


@pytest.mark.parametrize(
    ("modes", "recipes", "classic", "amounts"),
    list(itertools.product(
        [["none"], ["fgsm"], ["none", "pgd"], ["trades", "fgsm"]],
        [["plain"], ["filter", "pseudo", "two-stage"]],
        [[], ["--no-classic"], ["--classic-only"], ["--classic-kind", "auto"]],
        [["--ratios", "0"], ["--ratios", "0", "1", "--train-generator", "dcgan"],
         ["--ratios", "0", "--synthetic-fraction", "0.5", "--train-generator", "dcgan", "gan"]],
    )),
)  # fmt: skip
def test_every_combination_of_options_has_a_summary(
    modes: list[str], recipes: list[str], classic: list[str], amounts: list[str], tmp_path: Path
) -> None:
    """The summary and report of each combination are built from a constructed result set, as every run does
    before it trains (here with --dry-run, which then stops)."""
    if amounts == ["--ratios", "0"] and (recipes != ["plain"] or classic == ["--classic-only"]):
        pytest.skip("no generated images: recipes and --classic-only do not apply")
    if "auto" in classic and "none" not in modes:
        pytest.skip("--classic-kind auto chooses on standard training (refused without none)")
    from deepgen.commands import augment

    steps = ["--adv-steps", "1"] if {"pgd", "trades"} & set(modes) else []
    args = [*TINY, "--seeds", "3", *steps, "--adversarial", *modes, "--recipes", *recipes, *classic, *amounts]
    augment.run([*args, "--out", str(tmp_path / "x"), "--dry-run"])  # a ConfigError if the rehearsal fails
    assert not (tmp_path / "x").exists()


def test_an_experiment_whose_summary_cannot_be_built_fails_before_it_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> str:
        raise KeyError("real")

    monkeypatch.setattr("deepgen.augmentation.outputs.summarise", broken)
    trained = []
    monkeypatch.setattr("deepgen.augmentation.runner.run_cell", lambda cfg, cell: trained.append(cell))
    out = tmp_path / "augment"
    assert main(["augment", *TINY, "--seeds", "1", "--ratios", "0", "--out", str(out)]) == 2
    assert (
        "the summary of this experiment cannot be built (KeyError: 'real'); nothing was trained"
        in capsys.readouterr().err
    )
    assert not trained and not (out / "cells").exists()


def test_the_plan_shares_each_seeds_baselines_among_generators() -> None:
    cfg = AugmentConfig(DataConfig("digits"), Path("x"), seeds=2, ratios=[0, 1], train_generator=["dcgan", "diffusion"])
    cells = plan(cfg)
    kinds = [c.kind for c in cells]
    assert kinds.count("baseline") == 2 * 2 and kinds.count("generator") == 2 * 2
    assert kinds.count("variant") == 2 * 2 * 2  # per seed and generator: gen x1, gen x1+classic
    assert {c.key for c in cells if c.kind == "variant" and c.seed == 0} == {
        f"seed0/variant/{g}/small-cnn/none/{d}/x1/plain" for g in ("dcgan", "diffusion") for d in ("real", "classic")
    }
    assert len({c.key for c in cells}) == len(cells)


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (["--ratios", "0", "--pool", "100"], "--pool 100: it cannot take effect here"),
        (
            ["--ratios", "0", "1", "--synthetic-fraction", "0.5", "--train-generator", "dcgan"],
            "--ratios .*pool instead",
        ),
        (
            ["--ratios", "0", "--no-classic", "--classic-kind", "randaugment"],
            "--classic-kind randaugment: .*--no-classic",
        ),
        (["--ratios", "0", "--mix-alpha", "0.4"], "--mix-alpha 0.4: .*--mix"),
        (["--ratios", "0", "--adv-eps", "0.2"], "--adv-eps 0.2: .*--adversarial none"),
        (["--ratios", "0", "--adversarial", "fgsm", "--adv-steps", "3"], "--adv-steps 3: .*only pgd and trades"),
        (["--ratios", "0", "1", "--train-generator", "dcgan", "--pseudo", "soft"], "--pseudo soft: .*--recipes pseudo"),
        (["--ratios", "0", "--train-generator", "dcgan"], "no variant uses generated images"),
        (["--ratios", "0", "1", "--train-generator", "dcgan", "dcgan"], "two generators go by the name dcgan"),
        (["--ratios", "0", "--launcher", "slurm", "--jobs", "2"], "--jobs 2 sizes the local pool"),
        (["--ratios", "0", "--select", "robust"], "--select robust: .*--adversarial none"),
        (["--ratios", "0", "--adversarial", "fgsm", "--select-n", "50"], "--select-n 50: .*--select robust"),
    ],
)
def test_an_option_that_cannot_take_effect_is_refused(
    extra: list[str], error: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "augment"
    assert main(["augment", *TINY, "--seeds", "1", *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(error, err), err
    assert not out.exists()


def test_augments_generator_is_sized_as_train_sizes_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """One sizing rule: 200 training images give the same auto batch size under `train` and inside `augment`."""
    import yaml

    assert main(["train", "dcgan", "--data", "digits", "--limit-per-class", "20", "--conditional", "--steps", "1",
                 "--device", "cpu", "--no-tensorboard", "--out", str(tmp_path / "train")]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    out = tmp_path / "augment"
    args = ["augment", *TINY[:2], "--limit-per-class", "25", "--val-fraction", "0.2", "--train-generator", "dcgan"]
    args += ["--generator-steps", "1", "--ratios", "0", "1", "--seeds", "1", "--no-classic", *TINY[4:]]
    args += ["--out", str(out)]
    assert main(args) == 0
    sized = [yaml.safe_load((run / "config.yaml").read_text())["train"]["batch_size"]
             for run in (tmp_path / "train", out / "generators" / "seed0" / "dcgan")]  # fmt: skip
    assert sized == [25, 25] and "batch_size=25" in printed and "batch_size=25" in capsys.readouterr().out
    made = next(r for r in csv.DictReader((out / "results.csv").open()) if r["generator"])
    assert float(made["generation_seconds"]) >= 0  # the time its generator took to draw the images


def test_auto_classic_kind_trains_each_kind_and_every_classic_cell_uses_the_seeds_choice(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deepgen.augmentation import cells

    def favour(kind: str, seed: int):  # the candidate `kind` of `seed` scores best on validation
        run = cells.RUNS["baseline"]

        def run_baseline(cfg: AugmentConfig, cell: Cell, device: object) -> dict:
            result = run(cfg, cell, device)
            if cell.classic_kind == kind and cell.seed == seed:
                result["rows"][0]["val_accuracy"] = 2.0
            return result

        return run_baseline

    monkeypatch.setitem(cells.RUNS, "baseline", favour("randaugment", 1))
    out = tmp_path / "augment"
    args = [*TINY, "--seeds", "2", "--ratios", "0", "1", "--train-generator", "dcgan", "--generator-steps", "2"]
    args += ["--recipes", "plain", "filter", "--classic-kind", "auto", "--adversarial", "none", "fgsm"]
    assert main(["augment", *args, "--out", str(out)]) == 0
    assert "0 of 30 cells done" in capsys.readouterr().out  # per seed: real, 3 candidates, 2 AT, dcgan, 8 variants
    found = list(csv.DictReader((out / "results.csv").open()))
    for seed in (0, 1):
        mine = [r for r in found if r["seed"] == str(seed)]
        [classic] = [r for r in mine if r["variant"] == "classic"]  # the choice only, not the other candidates
        scores = {k: float(v) for k, v in json.loads(classic["classic_choice"]).items()}
        assert set(scores) == {"affine", "trivialaugment", "randaugment"}
        assert classic["classic_kind"] == max(scores, key=scores.get)
        assert seed == 0 or classic["classic_kind"] == "randaugment"
        assert {r["classic_kind"] for r in mine if r["classic"] == "True"} == {classic["classic_kind"]}
        assert len([r for r in mine if r["classic"] == "True"]) == 1 + 1 + 4  # classic, its AT, 2 recipes x 2 modes
    summary = (out / "summary.md").read_text()
    assert "classic = each seed's classic augmentation of best validation accuracy (--classic-kind auto)" in summary
    assert re.search(r"randaugment on seed\(s\) (0, )?1 ", summary)
    assert main(["augment", *args, "--out", str(out)]) == 0
    assert "30 of 30 cells done, 0 to run" in capsys.readouterr().out


def test_auto_classic_kind_plans_its_candidates_before_the_cells_that_need_them() -> None:
    cfg = AugmentConfig(DataConfig("digits"), Path("x"), seeds=1, ratios=[0], adversarial=["fgsm", "none"])
    cfg = dataclasses.replace(cfg, classic_kind="auto")
    keys = [c.key for c in plan(cfg)]
    kinds = [f"seed0/baseline/small-cnn/none/classic-{k}" for k in ("affine", "trivialaugment", "randaugment")]
    assert set(kinds) <= set(keys) and "seed0/baseline/small-cnn/none/classic" not in keys
    [at] = [c for c in plan(cfg) if c.key == "seed0/baseline/small-cnn/fgsm/classic"]
    assert set(at.needs) == set(kinds) and keys.index(at.key) > max(keys.index(k) for k in kinds)


def test_auto_classic_kind_without_standard_training_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "augment"
    args = [*TINY, "--seeds", "1", "--ratios", "0", "--classic-kind", "auto", "--adversarial", "fgsm"]
    assert main(["augment", *args, "--out", str(out)]) == 2
    assert "--classic-kind auto chooses each seed's kind on the validation accuracy of standard training" in (
        capsys.readouterr().err
    )
    assert not out.exists()
