"""Adversarial training, the generated pool at a fixed share of every batch, pseudo-labels, classic baselines and
the statistics that refuse to speak without evidence."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import ConcatDataset, DataLoader

import deepgen
from conftest import tiny_config
from deepgen.augmentation.config import RecipeConfig
from deepgen.augmentation.recipes import get_recipe
from deepgen.augmentation.robustness import Attack, robust_accuracy
from deepgen.augmentation.stats import mcnemar, pack, paired_difference, unpack
from deepgen.augmentation.summary import summarise
from deepgen.augmentation.synthetic import cached_pool, leaked, read_pool
from deepgen.classify.adversarial import pgd
from deepgen.classify.classic import classic_augmentation, mix
from deepgen.classify.config import AdversarialConfig, FitConfig
from deepgen.classify.fit import TrainingSet, batch_indices, fit
from deepgen.classify.zoo import build_classifier
from deepgen.cli import main
from deepgen.data.imageset import ImageSet, to_float
from deepgen.data.mixing import ImageDataset, MixedBatchSampler
from deepgen.training.trainer import train


def test_fast_adversarial_training_raises_robust_accuracy(digits: tuple) -> None:
    train_set, _, test = digits
    robust = {}
    for mode in ("none", "fgsm"):
        torch.manual_seed(0)
        model = build_classifier("small-cnn", train_set.shape, 10)
        cfg = FitConfig(max_steps=100, adversarial=mode, attack=AdversarialConfig(eps=0.1))
        fit(model, train_set, cfg, "cpu", 0)
        scores = robust_accuracy(model, test.images[:150], test.labels[:150], torch.device("cpu"), [0.1], [], [])
        robust[mode] = scores["pgd@0.1"]  # evaluated with PGD-10, stronger than the one-step training attack
    assert robust["fgsm"] > robust["none"] + 0.1, robust


def test_every_objective_trains_a_step_and_pgd_restarts_only_help(digits: tuple) -> None:
    train_set, _, test = digits
    for mode in ("pgd", "trades"):
        model = build_classifier("small-cnn", train_set.shape, 10)
        cfg = FitConfig(max_steps=2, adversarial=mode, attack=AdversarialConfig(steps=2), mix="cutmix")
        fit(model, train_set, cfg, "cpu", 0, augment=classic_augmentation("randaugment"))
    x, y = to_float(test.images[:64]), test.labels[:64]
    torch.manual_seed(1)
    once = pgd(model, x, y, 0.1, steps=3)
    torch.manual_seed(1)
    thrice = pgd(model, x, y, 0.1, steps=3, restarts=3)
    assert (thrice - x).abs().max() <= 0.2 + 1e-6 and thrice.min() >= -1 and thrice.max() <= 1
    with torch.no_grad():
        assert (model(thrice).argmax(1) != y).sum() >= (model(once).argmax(1) != y).sum()
    margin = robust_accuracy(
        model, test.images[:64], test.labels[:64], "cpu", [0.1], [], [], attack=Attack(3, 1, "margin")
    )
    assert 0 <= margin["pgd@0.1"] <= 1 and "restarts" in str(Attack(20, 2))


def test_the_synthetic_fraction_is_exact_on_every_batch(digits: tuple) -> None:
    train_set, _, _ = digits
    fake = ImageSet(train_set.images[:50].flip(-1), train_set.labels[:50], train_set.classes)
    data = TrainingSet(train_set) + TrainingSet(fake, generated=torch.ones(50, dtype=torch.bool))
    data.fraction = 0.7
    draw = batch_indices(data, 64, torch.device("cpu"), 0)
    for _ in range(20):
        index = draw()
        assert len(index) == 64 and int(data.generated[index].sum()) == round(0.7 * 64)  # 45 generated, 19 real
    everything = batch_indices(
        TrainingSet(train_set) + TrainingSet(fake, generated=torch.ones(50, dtype=torch.bool)),
        64,
        torch.device("cpu"),
        0,
    )
    counts = [int(data.generated[everything()].sum()) for _ in range(20)]
    assert np.mean(counts) < 0.3 * 64  # without a fraction, batches hold generated images at their share of the set


def test_the_public_dataset_round_trips_through_a_dataloader(digits: tuple) -> None:
    train_set, _, _ = digits
    real, fake = ImageDataset(train_set), ImageDataset(train_set.subset(torch.arange(30)))
    sampler = MixedBatchSampler.concat(len(real), len(fake), batch_size=20, fraction=0.25, seed=3)
    loader = DataLoader(ConcatDataset([real, fake]), batch_sampler=sampler)
    seen = []
    for x, y in loader:
        assert x.shape == (20, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
        seen.append((x, y))
    assert len(seen) == len(sampler) == math.ceil(len(real) / 15)
    indices = list(MixedBatchSampler.concat(len(real), len(fake), batch_size=20, fraction=0.25, seed=3))
    for (x, y), batch in zip(seen, indices):
        assert sum(i >= len(real) for i in batch) == 5
        originals = [train_set.images[i if i < len(real) else i - len(real)] for i in batch]
        assert torch.equal(x, to_float(torch.stack(originals)))
        assert torch.equal(y, torch.stack([train_set.labels[i if i < len(real) else i - len(real)] for i in batch]))


def test_pseudo_labels_come_from_the_judge_and_the_judge_never_saw_a_test_image(digits: tuple) -> None:
    train_set, val, test = digits
    assert leaked(train_set, test) == 0 and leaked(train_set, test.subset(torch.arange(3))) == 0
    assert (
        leaked(ImageSet(torch.cat([train_set.images, test.images[:4]]), torch.zeros(len(train_set) + 4), []), test) == 4
    )
    synthetic = train_set.subset(torch.arange(40))
    wrong = ImageSet(synthetic.images, (synthetic.labels + 1) % 10, synthetic.classes)  # the generator's labels

    def judge(images: torch.Tensor) -> torch.Tensor:
        truth = {img.numpy().tobytes(): int(label) for img, label in zip(train_set.images, train_set.labels)}
        confident = torch.tensor([0.9 if i % 2 else 0.5 for i in range(len(images))])
        probabilities = torch.full((len(images), 10), 0.0)
        for i, image in enumerate(images):
            probabilities[i] = (1 - confident[i]) / 9
            probabilities[i, truth[image.numpy().tobytes()]] = confident[i]
        return probabilities

    hard = get_recipe("pseudo").plan(train_set, wrong, judge, RecipeConfig(pseudo_tau=0.8)).stages[0][1]
    assert hard.n_generated == 20 and hard.targets is None  # only the images the judge is 0.9 sure of
    assert torch.equal(hard.data.labels[len(train_set) :], synthetic.labels[1::2])
    soft = get_recipe("pseudo").plan(train_set, wrong, judge, RecipeConfig(pseudo="soft")).stages[0][1]
    assert soft.n_generated == 40 and torch.allclose(soft.targets[len(train_set) :].sum(1), torch.ones(40))


def test_the_pool_is_cached_with_its_provenance(tmp_path: Path, digits: tuple) -> None:
    train_set, _, _ = digits
    calls = []

    def source(counts: list[int], seed: int) -> ImageSet:
        calls.append(seed)
        g = torch.Generator().manual_seed(seed)
        labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
        return ImageSet(
            torch.randint(0, 256, (len(labels), 1, 8, 8), generator=g, dtype=torch.uint8), labels, train_set.classes
        )

    path = tmp_path / "pool.safetensors"
    first = cached_pool(path, source, [3] * 10, 7, "gen A")
    again = cached_pool(path, source, [3] * 10, 7, "gen A")
    assert calls == [7] and torch.equal(first.images, again.images)
    assert read_pool(path)[1] == {"generator": "gen A", "seed": 7, "counts": [3] * 10}
    cached_pool(path, source, [3] * 10, 7, "gen B")  # another generator: made anew
    assert calls == [7, 7]


def test_classic_augmentations_and_mixing_keep_shapes_ranges_and_label_mass() -> None:
    x = torch.rand(16, 1, 12, 12) * 2 - 1
    for kind in ("affine", "trivialaugment", "randaugment"):
        out = classic_augmentation(kind, flip=True)(x)
        assert out.shape == x.shape and out.min() >= -1 - 1e-5 and out.max() <= 1 + 1e-5
    assert not torch.equal(classic_augmentation("affine")(x), x)
    targets = torch.nn.functional.one_hot(torch.arange(16) % 4, 4).float()
    for kind in ("mixup", "cutmix"):
        mixed, soft = mix(kind, x, targets)
        assert mixed.shape == x.shape and torch.allclose(soft.sum(1), torch.ones(16))


def rows_of(accuracy: dict[str, list[float]]) -> list[dict]:
    return [
        {"seed": s, "classifier": "cnn", "variant": v, "accuracy": a[s], "balanced_accuracy": a[s], "macro_f1": a[s]}
        for v, a in accuracy.items()
        for s in range(len(a))
    ]


def test_zero_variance_and_two_seeds_print_no_p_value() -> None:
    one_image = 1 / 36  # both seeds differ from real by exactly one test image
    two = {"real": [0.5, 0.6], "gan x1": [0.5 - one_image, 0.6 - one_image]}
    text = summarise(rows_of(two), 2)
    assert "p = " not in text and "significant after Holm" not in text and "cannot test: 2 seed(s), 3 needed" in text
    assert math.isnan(paired_difference(two["gan x1"], two["real"])[2])
    same = {"real": [0.5, 0.6, 0.7], "gan x1": [0.5 - one_image, 0.6 - one_image, 0.7 - one_image]}
    text = summarise(rows_of(same), 3)
    assert "the same difference on every seed" in text and "p = 0" not in text and "significant after" not in text
    assert math.isnan(paired_difference(same["gan x1"], same["real"])[2])


def test_mcnemar_on_pooled_answers() -> None:
    a = np.array([True] * 30 + [False] * 10)
    b = np.array([True] * 20 + [False] * 20)
    assert np.array_equal(unpack(pack(a)), a)
    better, worse, p = mcnemar([a, a], [b, b])
    assert (better, worse) == (20, 0) and p == pytest.approx(2 * 0.5**20)
    assert math.isnan(mcnemar([a], [a])[2])


def test_augment_with_a_pool_pseudo_labels_and_fast_adversarial_training(tmp_path: Path) -> None:
    generator = train(tiny_config("dcgan", tmp_path / "gen", conditional=True)).run
    fake = deepgen.synthetic(generator, per_class=3, device="cpu")  # the public Dataset of a conditional run
    x, y = next(iter(DataLoader(fake, batch_size=30)))
    assert len(fake) == 30 and x.shape == (30, 1, 8, 8) and y.tolist() == sorted(list(range(10)) * 3)
    out = tmp_path / "augment"
    args = ["augment", "--data", "digits", "--limit-per-class", "6", "--generator", str(generator), "--seeds", "1"]
    args += ["--synthetic-fraction", "0.5", "--pool", "100", "--recipes", "pseudo", "--adversarial", "none", "fgsm"]
    args += ["--classic-kind", "trivialaugment", "--classic-only", "--max-steps", "6", "--eps", "0.1", "--noise"]
    args += ["--blur", "--robust-n", "50", "--attack-steps", "3", "--device", "cpu", "--out", str(out)]
    assert main(args) == 0
    results = list(csv.DictReader((out / "results.csv").open()))
    variants = [r["variant"] for r in results]
    assert variants == [
        "real", "classic", "real+fgsm-AT", "classic+fgsm-AT",
        "gen pool@0.5 pseudo+classic", "gen pool@0.5 pseudo+classic+fgsm-AT",
    ]  # fmt: skip
    baselines = {r["variant"]: r["baseline"] for r in results}
    assert baselines["gen pool@0.5 pseudo+classic+fgsm-AT"] == "classic+fgsm-AT" and baselines["real+fgsm-AT"] == "real"
    assert all("PGD-3" in r["robust_attack"] for r in results)
    assert {r["classic_kind"] for r in results if r["classic"] == "True"} == {"trivialaugment"}
    rows = list(csv.DictReader((out / "provenance" / "seed0-gen.csv").open()))
    judge_trained_on = {r["sha1"] for r in rows if r["split"] == "train" and r["source"] == "real"}
    assert not judge_trained_on & {r["sha1"] for r in rows if r["split"] == "test"}
    assert sum(r["ratio"] == "pool@0.5" for r in rows) == 100
    pool, provenance = read_pool(out / "pools" / "seed0" / "gen-pool@0.5.safetensors")
    assert len(pool) == 100 and provenance["seed"] == 0 and str(generator) in provenance["generator"]
    summary = (out / "summary.md").read_text()
    assert "classic = trivialaugment augmentation." in summary and "with classic+fgsm-AT" in summary
    assert json.loads((out / "augment.json").read_text())["synthetic_fraction"] == 0.5
