"""Evaluators: SmallCNN classifiers trained by deepgen on a dataset's real training split, cached outside
any run so that every run on that data is judged by the same network:

    $DEEPGEN_CACHE/evaluators/NAME/model.safetensors    (DEEPGEN_CACHE defaults to ~/.cache/deepgen)
    $DEEPGEN_CACHE/evaluators/NAME/info.json            data, recipe, test accuracy, training time

NAME is DATA-CxHxW-HASH; the hash covers everything that determines the network: the training split's
images, labels and class names (so image size, channels, split seed and folder contents all count) and
the training recipe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from deepgen.config import DataConfig
from deepgen.data import Splits
from deepgen.data.imageset import ImageSet
from deepgen.eval.classifier import load_classifier, predict, save_classifier, train_classifier
from deepgen.eval.features import ClassifierFeatures
from deepgen.io import atomic_write_text

WEIGHTS, INFO = "model.safetensors", "info.json"


@dataclass(frozen=True)
class Recipe:
    """How an evaluator is trained (see deepgen.eval.classifier.train_classifier)."""

    steps: int = 1500
    batch_size: int = 128
    lr: float = 2e-3
    outlier_weight: float = 0.5
    seed: int = 0


def evaluator_data(cfg: DataConfig, dataset: str | None = None) -> DataConfig:
    """The data an evaluator learns from: a run's data settings (with `dataset` in place of its data, if
    given), using the whole training split (no --limit-per-class) without augmentation."""
    data = dataset or cfg.data
    return dataclasses.replace(cfg, data=data, limit_per_class=None, hflip=False, download=False)


def cache_root() -> Path:
    return Path(os.environ.get("DEEPGEN_CACHE") or "~/.cache/deepgen").expanduser() / "evaluators"


def slug(data: str) -> str:
    """'mnist10k' -> 'mnist10k'; 'folder:/data/scans' -> 'folder-scans'."""
    return f"folder-{Path(data[7:]).name}" if data.startswith("folder:") else data


def fingerprint(train: ImageSet, recipe: Recipe) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps({"shape": train.shape, "classes": train.classes, "recipe": dataclasses.asdict(recipe)}).encode()
    )
    h.update(train.images.contiguous().numpy().tobytes())
    h.update(train.labels.contiguous().numpy().tobytes())
    return h.hexdigest()


def evaluator_name(splits: Splits, recipe: Recipe) -> str:
    c, height, width = splits.train.shape
    return f"{slug(splits.name)}-{c}x{height}x{width}-{fingerprint(splits.train, recipe)[:12]}"


def get_evaluator(
    splits: Splits,
    recipe: Recipe = Recipe(),
    device: torch.device | str = "cpu",
    retrain: bool = False,
    log: Callable[[str], None] = print,
) -> ClassifierFeatures:
    """The cached evaluator of `splits` and `recipe`, trained (and cached) first if there is none."""
    name = evaluator_name(splits, recipe)
    folder = cache_root() / name
    features_name = f"classifier:{slug(splits.name)}"
    if not retrain and (folder / WEIGHTS).is_file():
        cnn, info = load_classifier(folder / WEIGHTS, device)
    else:
        log(
            f"training evaluator {name} on {len(splits.train)} real training images ({recipe.steps} steps; "
            f"once, then cached in {folder})"
        )
        started = time.perf_counter()
        cnn = train_classifier(
            splits.train, recipe.steps, recipe.batch_size, recipe.lr, recipe.seed, str(device), recipe.outlier_weight
        )
        accuracy = (predict(cnn, splits.test.images).argmax(1) == splits.test.labels).float().mean().item()
        info = {
            "name": name,
            "data": splits.name,
            "shape": list(splits.train.shape),
            "classes": splits.train.classes,
            "n_train": len(splits.train),
            "n_test": len(splits.test),
            "recipe": dataclasses.asdict(recipe),
            "test_accuracy": round(accuracy, 5),
            "train_s": round(time.perf_counter() - started, 1),
            "device": str(device),
        }
        save_classifier(cnn, folder / WEIGHTS, info)
        atomic_write_text(folder / INFO, json.dumps(info, indent=2))
    return ClassifierFeatures(
        features_name, cnn, splits.train.shape, splits.train.classes, {**info, "path": str(folder)}
    )
