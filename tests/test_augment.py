"""The augmentation experiment: provenance, statistics, classifiers, robustness."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from markdown_tables import assert_markdown_tables

from conftest import tiny_config
from deepgen.augmentation.robustness import robust_accuracy
from deepgen.augmentation.stats import mean_ci, paired_difference
from deepgen.augmentation.summary import holm, summarise
from deepgen.classify.config import FitConfig
from deepgen.classify.fit import EarlyStopping, fit, predict
from deepgen.classify.zoo import build_classifier
from deepgen.cli import main
from deepgen.errors import ConfigError
from deepgen.training.trainer import train


def test_synthetic_images_only_ever_enter_the_training_split(tmp_path: Path) -> None:
    generator = train(tiny_config("dcgan", tmp_path / "gen", conditional=True)).run
    out = tmp_path / "augment"
    args = [
        "augment",
        "--data",
        "digits",
        "--limit-per-class",
        "10",
        "--generator",
        str(generator),
        "--ratios",
        "0",
        "1.5",
    ]
    args += [
        "--seeds",
        "2",
        "--max-steps",
        "20",
        "--eps",
        "0",
        "0.1",
        "--noise",
        "--blur",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    for seed in (0, 1):
        rows = list(csv.DictReader((out / "provenance" / f"seed{seed}-gen.csv").open()))
        synthetic = [r for r in rows if r["source"] == "synthetic"]
        real_train = [r for r in rows if r["split"] == "train" and r["source"] == "real"]
        test = [r for r in rows if r["split"] == "test"]
        assert {r["split"] for r in synthetic} == {"train"}
        assert len(real_train) == 80 and len(synthetic) == 120  # 8 real training images per class, 1.5 synthetic each
        assert {r["source"] for r in rows if r["split"] in ("val", "test")} == {"real"} and len(test) == 360
        assert not {r["sha1"] for r in synthetic} & {r["sha1"] for r in test}
    results = list(csv.DictReader((out / "results.csv").open()))
    assert sorted({r["variant"] for r in results}) == ["classic", "gen x1.5", "gen x1.5+classic", "real"]
    assert len(results) == 8 and all(int(r["synthetic"]) == (120 if "gen" in r["variant"] else 0) for r in results)
    assert all(float(r["fgsm@0"]) == float(r["accuracy"]) == float(r["pgd@0"]) for r in results)
    summary = (out / "summary.md").read_text()
    assert "Conclusion (small-cnn, paired over 2 seeds)" in summary and "p (Holm)" in summary
    assert_markdown_tables(summary)
    assert len(list((out / "confusion").glob("*.png"))) == 4
    report = (out / "report.html").read_text()
    assert "<table id='results'>" in report and "the largest change in test accuracy is" in report
    assert report.count("<img src='data:image/png;base64,") == 4 + 1 + 1  # confusion matrices, generator grid, kept


def test_confidence_interval_and_paired_test_on_known_numbers() -> None:
    mean, half = mean_ci([1, 2, 3, 4, 5])
    assert mean == 3 and half == pytest.approx(2.7764451 * math.sqrt(2.5) / math.sqrt(5))
    d, half, p = paired_difference([2, 3, 4, 5, 7], [1, 2, 3, 4, 5])
    assert d == pytest.approx(1.2) and half == pytest.approx(2.7764451 * math.sqrt(0.2) / math.sqrt(5))
    assert p == pytest.approx(0.003883, rel=1e-3)  # t = 6 with 4 degrees of freedom
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(mean_ci([0.9])[1]) and math.isnan(paired_difference([0.9], [0.8])[2])


def test_stacked_autoencoder_classifier_beats_chance(digits: tuple) -> None:
    train_set, val, test = digits
    model = build_classifier("sae", train_set.shape, 10)
    fit(model, train_set, FitConfig(max_steps=150, pretrain_steps=150), "cpu", 0, EarlyStopping(val, every=50))
    accuracy = (predict(model, test.images).argmax(1) == test.labels).float().mean().item()
    assert accuracy > 0.5  # chance is 0.1


def test_attacks_at_zero_budget_equal_clean_accuracy_and_hurt_when_larger(digits: tuple) -> None:
    train_set, val, test = digits
    model = build_classifier("small-cnn", train_set.shape, 10)
    fit(model, train_set, FitConfig(max_steps=150), "cpu", 0, EarlyStopping(val, every=50))
    clean = (predict(model, test.images).argmax(1) == test.labels).float().mean().item()
    scores = robust_accuracy(model, test.images, test.labels, torch.device("cpu"), [0.0, 0.3], [0.0], [])
    assert scores["fgsm@0"] == scores["pgd@0"] == scores["noise@0"] == pytest.approx(clean)
    assert scores["pgd@0.3"] < scores["fgsm@0.3"] <= clean and scores["pgd@0.3"] < 0.5 * clean


def test_classifier_zoo(tmp_path: Path) -> None:
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    assert build_classifier("resnet18", (1, 28, 28), 7)(x).shape == (3, 7)
    import torchvision

    weights = tmp_path / "resnet18.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    net = build_classifier("torchvision:resnet18", (1, 28, 28), 4, weights=weights, size=32)
    assert net(x).shape == (3, 4)
    with pytest.raises(ConfigError, match="torchvision has no model"):
        build_classifier("torchvision:resnet19", (1, 28, 28), 4)
    with pytest.raises(ConfigError, match="unknown --classifier"):
        build_classifier("svm", (1, 28, 28), 4)


def test_summary_tests_generated_images_against_classic_augmentation() -> None:
    accuracy = {"real": [0.70, 0.72, 0.71], "gan x1": [0.69, 0.70, 0.72], "classic": [0.80, 0.81, 0.83]}
    accuracy["gan x1+classic"] = [0.81, 0.83, 0.86]  # classic + 1, 2, 3 points
    rows = [
        {"seed": s, "classifier": "cnn", "variant": v, "accuracy": a[s], "balanced_accuracy": a[s], "macro_f1": a[s]}
        for v, a in accuracy.items()
        for s in range(3)
    ]
    text = summarise(rows, 3)
    d, half, p = paired_difference(accuracy["gan x1+classic"], accuracy["classic"])
    assert d == pytest.approx(0.02) and p == pytest.approx(0.0742, abs=1e-3)  # t = 2 / (1 / sqrt 3), 2 d.f.
    own = text[text.index("### Test accuracy against each variant's baseline") :]
    assert f"| gan x1+classic | classic | 83.33 ± 6.25 | {100 * d:.2f} ± {100 * half:.2f} | {p:.3g} | {p:.3g} |" in own
    d_real = paired_difference(accuracy["gan x1+classic"], accuracy["real"])[0]
    assert f"the largest change in test accuracy is gan x1+classic against real: {100 * d_real:+.2f} points" in text


def test_a_generator_is_trained_per_seed_and_class(tmp_path: Path) -> None:
    out = tmp_path / "augment"
    args = ["augment", "--data", "digits", "--limit-per-class", "6", "--train-generator", "dcgan"]
    args += ["--generator-steps", "2", "--per-class-generators", "--ratios", "0", "1", "--seeds", "1"]
    args += ["--max-steps", "5", "--no-classic", "--eps", "--noise", "--blur", "--device", "cpu", "--out", str(out)]
    assert main(args) == 0
    runs = sorted(p.parent for p in (out / "generators" / "seed0" / "dcgan").glob("*/config.yaml"))
    assert [r.name for r in runs] == [f"class{c}" for c in range(10)]
    rows = list(csv.DictReader((out / "provenance" / "seed0-dcgan.csv").open()))
    real_train = [r for r in rows if r["split"] == "train" and r["source"] == "real"]
    assert len([r for r in rows if r["source"] == "synthetic"]) == len(real_train)
    report = (out / "report.html").read_text()
    assert report.count("<img src='data:image/png;base64,") == 2 + 10 + 1  # confusion matrices, grid per class, kept


def test_summary_says_identical_where_every_paired_difference_is_zero() -> None:
    accuracy = {"real": [0.70, 0.72, 0.71], "gan x1": [0.70, 0.72, 0.71], "gan x2": [0.71, 0.74, 0.70]}
    accuracy |= {"classic": [0.80, 0.81, 0.83], "gan x1+classic": [0.80, 0.81, 0.83]}
    rows = [
        {"seed": s, "classifier": "cnn", "variant": v, "accuracy": a[s], "balanced_accuracy": a[s], "macro_f1": a[s]}
        for v, a in accuracy.items()
        for s in range(3)
    ]
    text = summarise(rows, 3)
    assert "nan" not in text
    same = "identical on every seed"
    assert f"| gan x1 | 71.00 ± 2.48 | 71.00 ± 2.48 | 71.00 ± 2.48 | 0.00 ± 0.00 | {same} | {same} |" in text
    p = paired_difference(accuracy["gan x2"], accuracy["real"])[2]
    assert f"| {p:.3g} |" in text  # a variant that differs keeps its p-value
    assert f"| gan x1+classic | classic | 81.33 ± 3.79 | 0.00 ± 0.00 | {same} | {same} |" in text


def test_variations_of_each_seeds_own_training_images_keep_their_class(tmp_path: Path) -> None:
    out = tmp_path / "augment"
    args = ["augment", "--data", "digits", "--limit-per-class", "6", "--train-generator", "vae", "--vary", "0.3"]
    args += ["--generator-steps", "2", "--ratios", "0", "2", "--seeds", "1", "--max-steps", "5", "--no-classic"]
    args += ["--eps", "--noise", "--blur", "--device", "cpu", "--out", str(out)]
    assert main(args) == 0  # one unconditional VAE, trained on the seed's training split only
    assert [p.parent.name for p in (out / "generators" / "seed0").glob("*/config.yaml")] == ["vae-vary"]
    rows = list(csv.DictReader((out / "provenance" / "seed0-vae-vary.csv").open()))
    real = [r["class"] for r in rows if r["split"] == "train" and r["source"] == "real"]
    synthetic = [r["class"] for r in rows if r["source"] == "synthetic"]
    assert sorted(synthetic) == sorted(real * 2)  # two variations per training image, of its class
    assert main(args[:-2] + ["--per-class-generators", "--out", str(tmp_path / "other")]) == 2  # one generator
