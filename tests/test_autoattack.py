"""AutoAttack and APGD (through adversarial-robustness-toolbox) beside PGD, model selection by validation robust
accuracy, and an augment run that scores and compares an apgd column."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from deepgen.augmentation.robustness import Attack, robust_answers
from deepgen.classify.config import AdversarialConfig, FitConfig
from deepgen.classify.fit import fit
from deepgen.classify.zoo import build_classifier

pytest.importorskip("art")


@pytest.fixture(scope="module")
def trained(digits: tuple) -> tuple:
    """A small CNN trained a few dozen steps on scikit-learn's digits (8x8), and 60 test images."""
    train_set, _, test = digits
    torch.manual_seed(0)
    model = build_classifier("small-cnn", train_set.shape, 10)
    fit(model, train_set, FitConfig(max_steps=40), "cpu", 0)
    return model, test.images[:60], test.labels[:60]


@pytest.mark.parametrize("kind", ["apgd", pytest.param("autoattack", marks=pytest.mark.slow)])  # Square: ~40 s
def test_the_library_attacks_fool_at_least_as_many_images_as_fgsm(trained: tuple, kind: str) -> None:
    model, images, labels = trained
    right = robust_answers(model, images, labels, torch.device("cpu"), [0.05], [], [], attack=Attack(5, 1, kind=kind))
    assert set(right) == {"fgsm@0.05", "pgd@0.05", f"{kind}@0.05"}
    clean = (model(images.float() / 127.5 - 1).argmax(1) == labels).float().mean()
    assert right[f"{kind}@0.05"].float().mean() <= right["fgsm@0.05"].float().mean() < clean
    assert kind in str(Attack(kind=kind)) and "FGSM" in str(Attack(kind=kind))


def test_the_library_attack_stays_within_the_budget_and_the_image_range(trained: tuple) -> None:
    from deepgen.classify.adversarial import autoattack
    from deepgen.data.imageset import to_float

    model, images, labels = trained
    x = to_float(images[:20])
    adv = autoattack(model, x, labels[:20], 0.05, "apgd")
    assert (adv - x).abs().max() <= 2 * 0.05 + 1e-5 and adv.min() >= -1 and adv.max() <= 1
