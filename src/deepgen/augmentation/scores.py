"""A classifier's scores on the real test split: accuracy, balanced accuracy, macro-F1, per-class F1, the right/wrong
answer on every test image (clean and under each attack and corruption, for McNemar's test), and whether it learned
anything at all (a classifier that predicts one class for every image scores the majority share clean and under
every attack alike: that is no robustness, and the summary leaves it out of its robust comparisons)."""

from __future__ import annotations

import json

import numpy as np
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, classification_report, confusion_matrix, f1_score

from deepgen.augmentation.config import AugmentConfig
from deepgen.augmentation.robustness import Attack, robust_answers
from deepgen.augmentation.stats import pack
from deepgen.classify.base import Classifier
from deepgen.classify.fit import predict
from deepgen.data.imageset import ImageSet


def test_scores(model: Classifier, test: ImageSet, device: torch.device, cfg: AugmentConfig) -> tuple[dict, np.ndarray]:
    """The scores of `model` on `test` under the augment config `cfg` (its attack, budgets and corruptions), and
    its confusion matrix."""
    truth, pred = test.labels.numpy(), predict(model, test.images).argmax(1).numpy()
    n, attack = cfg.robust_images, Attack(cfg.attack_steps, cfg.attack_restarts, cfg.attack_loss, cfg.attack)
    classes = list(range(len(test.classes)))
    report = classification_report(
        truth, pred, labels=classes, target_names=test.classes, output_dict=True, zero_division=0
    )
    answers = robust_answers(model, test.images[:n], test.labels[:n], device, cfg.eps, cfg.noise, cfg.blur, 500, attack)
    balanced = balanced_accuracy_score(truth, pred)
    scores = {
        "accuracy": accuracy_score(truth, pred),
        "balanced_accuracy": balanced,
        "macro_f1": f1_score(truth, pred, average="macro", zero_division=0),
        **{name: int(right.sum()) / len(right) for name, right in answers.items()},
        "robust_attack": str(attack),
        "per_class_f1": json.dumps({c: round(report[c]["f1-score"], 4) for c in test.classes}),
        "robust_images": min(n, len(test)),
        "correct": pack(pred == truth),
        "robust_correct": json.dumps({name: pack(right.numpy()) for name, right in answers.items()}),
        "learned_nothing": learned_nothing(pred, balanced, len(classes)),
    }
    return scores, confusion_matrix(truth, pred, labels=classes)


def learned_nothing(pred: np.ndarray, balanced_accuracy: float, classes: int) -> str:
    """Why a classifier learned nothing — one class predicted for every test image, or balanced accuracy at chance
    (1 / classes) or below — or '' when it learned something."""
    if len(np.unique(pred)) == 1:
        return f"predicts one class for every test image (balanced accuracy {balanced_accuracy:.2f})"
    if balanced_accuracy <= 1 / classes + 1e-9:
        return f"balanced accuracy {balanced_accuracy:.2f}, at chance (1/{classes})"
    return ""
