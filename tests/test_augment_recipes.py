"""Recipes for generated images, the unlabelled pool and the scarce-data curve of the augmentation experiment."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from deepgen.augmentation import pool as pool_module
from deepgen.augmentation.config import RecipeConfig
from deepgen.augmentation.curve import real_equivalent, worth_lines
from deepgen.augmentation.pool import image_hashes, unlabelled_pool
from deepgen.augmentation.recipes import get_recipe, soft_labels
from deepgen.cli import main
from deepgen.config import DataConfig
from deepgen.data import Splits
from deepgen.data.imageset import ImageSet
from deepgen.errors import ConfigError


def images(n: int, classes: int = 3, seed: int = 0) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    return ImageSet(pixels, torch.arange(n) % classes, [str(c) for c in range(classes)])


def fixed_judge(probabilities: torch.Tensor):  # noqa: ANN201
    return lambda images: probabilities[: len(images)]


def test_filtering_keeps_only_images_the_judge_gives_the_asked_label_with_confidence_tau() -> None:
    real, synthetic = images(6), images(6, seed=1)  # labels 0 1 2 0 1 2
    probabilities = torch.tensor(
        [[0.95, 0.05, 0], [0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.5, 0.5, 0], [0, 0.85, 0.15], [0, 0, 1.0]]
    )  # kept: 0 (asked 0, 0.95), 1 (asked 1, 0.9), 5 (asked 2, 1.0); not 2 (wrong class), 3 and 4 (below tau)
    plan = get_recipe("filter").plan(real, synthetic, fixed_judge(probabilities), RecipeConfig(tau=0.9))
    ((name, data),) = plan.stages
    kept = data.data.images[data.generated]
    assert torch.equal(kept, synthetic.images[[0, 1, 5]]) and data.n_generated == 3 and len(data) == 9
    assert torch.equal(data.data.images[~data.generated], real.images)  # every real image stays
    assert plan.info["kept_share"] == 0.5 and json.loads(plan.info["kept_per_class"]) == {"0": 0.5, "1": 0.5, "2": 0.5}


def test_soft_labels_sum_to_one() -> None:
    synthetic = images(5)
    logits = torch.randn(5, 3)
    for cfg in (RecipeConfig(soft="judge"), RecipeConfig(soft="smooth", smoothing=0.2)):
        targets = soft_labels(synthetic, fixed_judge(logits.softmax(1)), cfg)
        assert targets.shape == (5, 3) and torch.allclose(targets.sum(1), torch.ones(5)) and (targets >= 0).all()
    smooth = soft_labels(synthetic, fixed_judge(logits.softmax(1)), RecipeConfig(soft="smooth", smoothing=0.3))
    assert smooth[0].tolist() == pytest.approx([0.8, 0.1, 0.1])  # label 0: 1 - 0.3 + 0.3 / 3
    plan = get_recipe("soft").plan(images(4), synthetic, fixed_judge(logits.softmax(1)), RecipeConfig())
    targets = plan.stages[0][1].targets
    assert torch.allclose(targets.sum(1), torch.ones(9)) and torch.allclose(targets[4:], logits.softmax(1))


def test_two_stage_fine_tunes_on_the_real_images_only() -> None:
    real, synthetic = images(6), images(12, seed=1)
    plan = get_recipe("two-stage").plan(real, synthetic, fixed_judge(torch.zeros(0)), RecipeConfig())
    (first, pretrain), (second, fine_tune) = plan.stages
    assert (first, second) == ("pretrain", "fine-tune") and pretrain.n_generated == 12 and len(pretrain) == 18
    assert fine_tune.n_generated == 0 and torch.equal(fine_tune.data.images, real.images)
    with pytest.raises(ConfigError, match="unknown recipe 'two_stage'.*Did you mean 'two-stage'"):
        get_recipe("two_stage")


def test_the_unlabelled_pool_never_holds_a_test_or_training_image(monkeypatch: pytest.MonkeyPatch) -> None:
    train_set, val, test = images(6), images(3, seed=1), images(4, seed=2)
    others = images(10, seed=3)
    everything = ImageSet(  # the data set's whole training split, with copies of a test, a train and a val image
        torch.cat([others.images, test.images[:1], train_set.images[:1], val.images[:1]]),
        torch.zeros(13, dtype=torch.long),
        others.classes,
    )
    monkeypatch.setattr(pool_module, "load_data", lambda cfg: Splits("fake", everything, test))
    cfg = type("Cfg", (), {"unlabeled": 100, "data": DataConfig(data="digits")})()
    judge = fixed_judge(torch.eye(3)[torch.arange(13) % 3])
    pool = unlabelled_pool(cfg, Splits("fake", train_set, test), train_set, val, judge, seed=0)
    held = set(image_hashes(torch.cat([test.images, train_set.images, val.images])))
    assert len(pool) == 10 and not set(image_hashes(pool.images)) & held
    assert set(image_hashes(pool.images)) == set(image_hashes(others.images))
    assert sorted(pool.labels.tolist()) == sorted((torch.arange(10) % 3).tolist())  # the judge's labels


def test_real_equivalent_interpolates_in_log_images_per_class() -> None:
    curve = [(5, 0.50, 0.0), (10, 0.60, 0.0), (20, 0.70, 0.0)]
    assert real_equivalent(curve, 0.65) == pytest.approx(math.sqrt(10 * 20))
    assert real_equivalent(curve, 0.75) is None and real_equivalent(curve, 0.60) == pytest.approx(10)
    rows = [
        {"classifier": "cnn", "per_class": n, "variant": v, "seed": s, "accuracy": a}
        for v, scores in {"real": [0.5, 0.6, 0.7], "gan x1": [0.65, 0.58, 0.8]}.items()
        for n, a in zip((5, 10, 20), scores)
        for s in range(2)
    ]
    lines = worth_lines(rows, "cnn")
    assert "at 5 real images per class, synthetic images are worth about 9 real images per class" in lines[0]
    assert "which real reaches with about 14 real images per class" in lines[0]  # sqrt(10 * 20) - 5
    assert "no gain over real" in lines[1] and "above real at every measured size (up to 20)" in lines[2]


def test_recipes_pool_and_curve_in_one_run(tmp_path: Path) -> None:
    out = tmp_path / "augment"
    args = ["augment", "--data", "digits", "--limit-per-class", "5", "8", "--train-generator", "dcgan"]
    args += ["--generator-steps", "2", "--ratios", "1", "--seeds", "2", "--max-steps", "5", "--classic-only"]
    args += ["--recipes", "filter", "two-stage", "--unlabeled", "40", "--eps", "--noise", "--blur"]
    args += ["--device", "cpu", "--out", str(out)]
    assert main(args) == 0
    results = list(csv.DictReader((out / "results.csv").open()))
    assert len(results) == 2 * 2 * 4 and {r["per_class"] for r in results} == {"5", "8"}
    assert {r["variant"] for r in results} == {
        "real",
        "classic",
        "dcgan x1 filter+classic",
        "dcgan x1 two-stage+classic",
    }
    for row in results:
        stages = json.loads(row["stages"])
        if row["recipe"] == "two-stage":  # provenance: generated images in the first stage only
            assert [(s["stage"], s["real"]) for s in stages] == [("pretrain", int(row["real_train"]))] * 1 + [
                ("fine-tune", int(row["real_train"]))
            ]
            assert stages[0]["generated"] == int(row["synthetic"]) > 0 and stages[1]["generated"] == 0
        if row["recipe"] == "filter":
            assert row["recipe_settings"] == "tau=0.9" and 0 <= float(row["kept_share"]) <= 1
    for part in ("5pc/seed0", "5pc/seed1", "8pc/seed0", "8pc/seed1"):
        rows = list(csv.DictReader((out / "provenance" / f"{part}-dcgan.csv").open()))
        unlabelled = {r["sha1"] for r in rows if r["source"] == "unlabelled"}
        held = {r["sha1"] for r in rows if r["split"] in ("train", "val", "test") and r["source"] == "real"}
        assert len([r for r in rows if r["source"] == "unlabelled"]) == 40 and not unlabelled & held
    summary = (out / "summary.md").read_text()
    assert "## small-cnn, 5 per class" in summary and "## small-cnn, 8 per class" in summary
    assert "dcgan x1 filter+classic (5 per class): kept" in summary and "real images per class" in summary
    assert (out / "curve_small-cnn.png").is_file() and "curve_small-cnn" not in summary
    assert "and up to 40 pseudo-labelled unlabelled images" in results[-1]["generator"]
