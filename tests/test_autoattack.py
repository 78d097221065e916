"""AutoAttack and APGD (through adversarial-robustness-toolbox) beside PGD, model selection by validation robust
accuracy, and an augment run that scores and compares an apgd column."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from deepgen.augmentation.robustness import Attack
from deepgen.augmentation.stats import paired_difference
from deepgen.augmentation.summary import summarise
from deepgen.classify.adversarial import autoattack, fgsm
from deepgen.classify.config import FitConfig
from deepgen.classify.fit import EarlyStopping, early_stopping, fit
from deepgen.classify.zoo import build_classifier
from deepgen.cli import main
from deepgen.data.imageset import to_float

pytest.importorskip("art")


@pytest.fixture(scope="module")
def trained(digits: tuple) -> tuple:
    """A small CNN trained a few dozen steps on scikit-learn's digits (8x8), and 40 test images."""
    train_set, _, test = digits
    torch.manual_seed(0)
    model = build_classifier("small-cnn", train_set.shape, 10)
    fit(model, train_set, FitConfig(max_steps=40), "cpu", 0)
    return model, test.images[:40], test.labels[:40]


@pytest.mark.parametrize("kind", ["apgd", pytest.param("autoattack", marks=pytest.mark.slow)])  # Square: ~40 s
def test_the_library_attacks_fool_at_least_as_many_images_as_fgsm_within_the_budget(trained: tuple, kind: str) -> None:
    model, images, labels = trained
    x = to_float(images)
    adv = autoattack(model, x, labels, 0.05, kind)
    assert (adv - x).abs().max() <= 2 * 0.05 + 1e-5 and adv.min() >= -1 and adv.max() <= 1  # [-1, 1]: budget 2 eps
    one_step = fgsm(model, x, labels, 0.05)
    with torch.no_grad():
        right = [(model(z).argmax(1) == labels).float().mean().item() for z in (x, one_step, adv)]
    assert right[2] <= right[1] < right[0], right  # clean, FGSM, the library's attack
    assert kind in str(Attack(kind=kind)) and "FGSM" in str(Attack(kind=kind))
    assert Attack(kind=kind).kinds == ["fgsm", "pgd", kind] and Attack().kinds == ["fgsm", "pgd"]


def test_selection_by_robust_accuracy_keeps_the_step_that_scored_best(digits: tuple) -> None:
    train_set, val, _ = digits
    seen: dict[int, dict] = {}

    def scripted(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Leaves the images alone at the third check (robust = clean accuracy), else makes them all blank."""
        seen[len(seen) + 1] = {k: v.clone() for k, v in model.state_dict().items()}
        return x if len(seen) == 3 else torch.full_like(x, -1.0)

    torch.manual_seed(0)
    model = build_classifier("small-cnn", train_set.shape, 10)
    early = EarlyStopping(val, every=10, patience=100, attack=scripted, images=50)
    info = fit(model, train_set, FitConfig(max_steps=50), "cpu", 0, early)
    assert info["best_step"] == 30 and [c["step"] for c in early.curve] == [10, 20, 30, 40, 50]
    assert info["val_robust_best"] == pytest.approx(max(c["robust"] for c in early.curve), abs=1e-4)
    assert info["val_robust_best"] > info["val_robust_last"]
    assert info["val_robust_gap"] == pytest.approx(info["val_robust_best"] - info["val_robust_last"])
    assert json.loads(info["val_robust_curve"]) == early.curve
    assert all(torch.equal(v, seen[3][k]) for k, v in model.state_dict().items())  # the weights of step 30

    cfg = FitConfig(max_steps=40, eval_every=10, patience=100, adversarial="fgsm", select="robust", select_steps=2)
    early = early_stopping(val, cfg)
    torch.manual_seed(0)
    info = fit(build_classifier("small-cnn", train_set.shape, 10), train_set, cfg, "cpu", 0, early)
    curve = json.loads(info["val_robust_curve"])
    best = max(curve, key=lambda c: c["robust"])  # the first of the best
    assert info["best_step"] == best["step"] and info["val_accuracy"] == pytest.approx(best["clean"], abs=1e-4)
    assert len(curve) == 4
    assert early_stopping(val, FitConfig(select="robust")).attack is None  # standard training: by clean accuracy


def test_a_large_gap_between_pgd_and_autoattack_is_flagged() -> None:
    rows = [
        {"seed": s, "classifier": "small-cnn", "variant": v, "baseline": "real" if v != "real" else "", "accuracy": 0.9,
         "balanced_accuracy": 0.9, "macro_f1": 0.9, "pgd@0.1": 0.8 + 0.01 * s, "autoattack@0.1": low + 0.01 * s,
         "robust_attack": str(Attack(20, 2, kind="autoattack")), "robust_images": 100}
        for s in range(3) for v, low in (("real", 0.75), ("real+fgsm-AT", 0.5))
    ]  # fmt: skip
    text = summarise(rows, 3)
    assert "Possible gradient masking" in text and "real+fgsm-AT at eps 0.1: PGD 81.0 % vs AutoAttack 51.0 %" in text
    assert "real at eps" not in text and "### Robust accuracy, autoattack@0.1" in text


def test_augment_scores_an_apgd_column_with_its_statistics(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "aug"
    args = ["augment", "--data", "digits", "--limit-per-class", "6", "--seeds", "1", "--ratios", "0", "--no-classic"]
    args += ["--max-steps", "5", "--eps", "0.1", "--noise", "--blur", "--robust-n", "20", "--device", "cpu"]
    args += ["--attack", "apgd", "--adversarial", "none", "fgsm", "--select", "robust", "--out", str(out)]
    assert main(args) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert all("apgd@0.1" in r and "apgd@0.1" in json.loads(r["robust_correct"]) for r in rows)
    assert all("APGD-CE + APGD-T" in r["robust_attack"] for r in rows)
    trained = next(r for r in rows if r["adversarial"] == "fgsm")
    assert trained["val_robust_best"] and json.loads(trained["val_robust_curve"])
    assert not next(r for r in rows if r["adversarial"] == "none")["val_robust_best"]  # selected by clean accuracy
    summary = (out / "summary.md").read_text()
    section = summary.split("### Robust accuracy, apgd@0.1")[1].split("###")[0]
    assert "APGD-CE + APGD-T" in section and "real+fgsm-AT | real |" in section  # compared with its baseline
    [figure] = out.glob("robust_curve_*.png")  # seed 0's validation curve under attack of the AT classifier
    assert "validation robust accuracy while training (seed 0)" in (out / "report.html").read_text()
    assert figure.stat().st_size > 5000


def test_the_robust_curves_are_the_first_seeds_of_each_size() -> None:
    from deepgen.augmentation.outputs import robust_curves

    def row(seed: int, per_class: int, variant: str) -> dict:
        curve = json.dumps([{"step": 50, "robust": seed / 10, "clean": 0.9}])
        return {"seed": seed, "per_class": per_class, "classifier": "cnn", "variant": variant,
                "val_robust_curve": curve}  # fmt: skip

    rows = [row(1, 10, "a"), row(0, 10, "a"), row(0, 10, "b"), row(2, 50, "a"), row(3, 50, "b")]
    rows.append({"seed": 0, "per_class": 10, "classifier": "cnn", "variant": "real", "val_robust_curve": ""})
    found = robust_curves(rows)
    curve = json.loads(row(0, 10, "a")["val_robust_curve"])
    assert found["cnn, 10 per class"] == (0, {"a": curve, "b": curve})  # seed 1's and the real row's left out
    assert found["cnn, 50 per class"][0] == 2 and list(found["cnn, 50 per class"][1]) == ["a"]



def test_pools_of_10_and_100_times_the_real_images(tmp_path: Path) -> None:
    from deepgen.augmentation.cells import generated_sets
    from deepgen.augmentation.config import AugmentConfig
    from deepgen.config import DataConfig
    from deepgen.data.imageset import ImageSet

    def source(counts: list[int], seed: int) -> ImageSet:
        labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
        return ImageSet(torch.zeros(len(labels), 1, 8, 8, dtype=torch.uint8), labels, ["a", "b", "c"])

    counts = [5, 3, 2]
    cfg = AugmentConfig(DataConfig("digits"), tmp_path, synthetic_fraction=0.5, pool=[0, 100 * sum(counts)])
    pools = generated_sets(cfg, source, counts, 0, "fake", "fake")
    assert list(pools) == ["pool10x@0.5", "pool1000@0.5"]
    assert [torch.bincount(p.labels).tolist() for p in pools.values()] == [[50, 30, 20], [500, 300, 200]]


def test_an_experiment_with_two_pool_sizes_trains_one_generator_per_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "aug"
    args = ["augment", "--data", "digits", "--limit-per-class", "6", "--seeds", "1", "--ratios", "0", "--no-classic"]
    args += ["--max-steps", "3", "--eps", "0.1", "--noise", "--blur", "--robust-n", "20", "--device", "cpu"]
    args += ["--synthetic-fraction", "0.5", "--pool", "60", "600", "--train-generator", "dcgan"]
    args += ["--generator-steps", "2", "--out", str(out)]
    assert main(args) == 0
    assert "0 of 4 cells done" in capsys.readouterr().out  # real, the generator, a variant per pool
    rows = {r["variant"]: r for r in csv.DictReader((out / "results.csv").open())}
    assert set(rows) == {"real", "dcgan pool60@0.5", "dcgan pool600@0.5"}
    assert rows["dcgan pool60@0.5"]["synthetic"] == "60" and rows["dcgan pool600@0.5"]["synthetic"] == "600"
    assert main([*args[:-1], str(tmp_path / "twice"), "--pool", "60", "60"]) == 2
    assert "--pool 60 60: give each size once" in capsys.readouterr().err


def test_the_robust_overfitting_gap_is_compared_with_the_baselines() -> None:
    """A pool that closes the gap between the best and the last validation robust accuracy: a table of best, last
    and gap, the gap's paired difference from the baseline's and its p-value; variants without AT have no row."""
    best, last_at = [0.60, 0.62, 0.58, 0.61, 0.63], [0.40, 0.45, 0.38, 0.42, 0.41]
    last_pool = [0.57, 0.60, 0.55, 0.58, 0.61]
    rows = []
    for seed in range(5):
        for variant, baseline, last in [
            ("classic", "", None),
            ("classic+fgsm-AT", "classic", last_at[seed]),
            ("gen pool@0.5+classic+fgsm-AT", "classic+fgsm-AT", last_pool[seed]),
        ]:
            row = {"seed": seed, "classifier": "cnn", "variant": variant, "baseline": baseline, "accuracy": 0.9,
                   "balanced_accuracy": 0.9, "macro_f1": 0.9, "pgd@0.1": 0.4, "learned_nothing": ""}  # fmt: skip
            if last is not None:
                row |= {"val_robust_best": best[seed], "val_robust_last": last, "val_robust_gap": best[seed] - last}
            rows.append(row)
    text = summarise(rows, 5)
    table = text.split("### Robust overfitting")[1].split("\n\n")[1]
    assert "| classic |" not in table  # trained without AT: no curve under attack
    gaps = [b - a for b, a in zip(best, last_at)], [b - p for b, p in zip(best, last_pool)]
    d, half, p = paired_difference(gaps[1], gaps[0])
    assert f"| gen pool@0.5+classic+fgsm-AT | classic+fgsm-AT | {100 * sum(best) / 5:.2f}" in table
    assert f"| {100 * d:.2f} ± {100 * half:.2f} | {p:.3g} |" in table and d < 0 and p < 0.01
