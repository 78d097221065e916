"""Evaluators: SmallCNN classifiers trained by deepgen on a dataset's real training split, cached outside
any run so that every run on that data is judged by the same network:

    $DEEPGEN_CACHE/evaluators/NAME/model.safetensors    (DEEPGEN_CACHE defaults to ~/.cache/deepgen)
    $DEEPGEN_CACHE/evaluators/NAME/info.json            data, recipe, test accuracy, training time

NAME is DATA-CxHxW-HASH; the hash covers everything that determines the network: the training split's
images, labels and class names (so image size, channels, split seed and folder contents all count) and
the training recipe, sized to that split (see Recipe.sized).

Training is sized to the data and stops early: a tenth of the training split is held out for validation,
and training ends when its accuracy has not improved for `patience` checks (two per epoch), keeping the
best weights. The test split's accuracy is reported beside every score that uses the evaluator; below
WEAK_ACCURACY its features separate the classes poorly and FID, KID, precision/recall under them say little.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

from deepgen.classify.fit import EarlyStopping, predict
from deepgen.classify.small_cnn import SmallCNN, load_classifier, save_classifier, train_classifier
from deepgen.config import DataConfig
from deepgen.data import Splits
from deepgen.data.imageset import ImageSet, split
from deepgen.eval.features import ClassifierFeatures, FeatureExtractor
from deepgen.eval.settings import Recipe
from deepgen.io import atomic_write_text
from deepgen.run import data_slug

WEIGHTS, INFO = "model.safetensors", "info.json"
WEAK_ACCURACY = 0.8  # below this test accuracy an evaluator's scores come with a warning
ACCURACY = "evaluator_test_accuracy"  # the key of a metric's `extra` that holds it


def accuracy_label(accuracy: float) -> str:
    """How a score's evaluator is shown beside it: its test accuracy, flagged when weak."""
    weak = f", WEAK: below {WEAK_ACCURACY:g}" if accuracy < WEAK_ACCURACY else ""
    return f"evaluator test accuracy {accuracy:.3f}{weak}"


def evaluator_data(cfg: DataConfig, dataset: str | None = None) -> DataConfig:
    """The data an evaluator learns from: a run's data settings (with `dataset` in place of its data, if
    given), using the whole training split (no --limit-per-class) without augmentation."""
    data = dataset or cfg.data
    return dataclasses.replace(cfg, data=data, limit_per_class=None, hflip=False, download=False)


def cache_root() -> Path:
    return Path(os.environ.get("DEEPGEN_CACHE") or "~/.cache/deepgen").expanduser() / "evaluators"


def fingerprint(train: ImageSet, recipe: Recipe) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps({"shape": train.shape, "classes": train.classes, "recipe": dataclasses.asdict(recipe)}).encode()
    )
    h.update(train.images.contiguous().numpy().tobytes())
    h.update(train.labels.contiguous().numpy().tobytes())
    return h.hexdigest()


def sized_recipe(splits: Splits, recipe: Recipe) -> Recipe:
    """`recipe` sized to the images it trains on (the training split less its validation share)."""
    return recipe.sized(round(len(splits.train) * (1 - recipe.val_fraction)), splits.train.shape[1])


def evaluator_name(splits: Splits, recipe: Recipe) -> str:
    c, height, width = splits.train.shape
    digest = fingerprint(splits.train, sized_recipe(splits, recipe))[:12]
    return f"{data_slug(splits.name)}-{c}x{height}x{width}-{digest}"


def get_evaluator(
    splits: Splits,
    recipe: Recipe = Recipe(),
    device: torch.device | str = "cpu",
    retrain: bool = False,
    log: Callable[[str], None] = print,
) -> ClassifierFeatures:
    """The cached evaluator of `splits` and `recipe`, trained (and cached) first if there is none; its test
    accuracy and training cost are logged either way, with a warning when the accuracy is weak."""
    name = evaluator_name(splits, recipe)
    folder = cache_root() / name
    features_name = f"classifier:{data_slug(splits.name)}"
    if not retrain and (folder / WEIGHTS).is_file():
        cnn, info = load_classifier(folder / WEIGHTS, device)
    else:
        cnn, info = train_evaluator(splits, sized_recipe(splits, recipe), name, folder, device, log)
    log(f"evaluator {name}: {describe_training(info)}")
    evaluator = ClassifierFeatures(
        features_name, cnn, splits.train.shape, splits.train.classes, {**info, "path": str(folder)}
    )
    warning = weak_warning(evaluator)
    if warning:
        log(f"warning: {warning}")
    return evaluator


def weak_warning(evaluator: FeatureExtractor) -> str | None:
    """A warning when `evaluator` is a classifier too weak for its features to judge images, else None."""
    if not isinstance(evaluator, ClassifierFeatures) or evaluator.info["test_accuracy"] >= WEAK_ACCURACY:
        return None
    accuracy = evaluator.info["test_accuracy"]
    return (
        f"evaluator {evaluator.info['name']} classifies only {accuracy:.1%} of the test split correctly (below "
        f"{WEAK_ACCURACY:.0%}), so scores under {evaluator.name} say little about the images; train it longer "
        "(--evaluator-steps), give it more data, or use --features inception"
    )


def train_evaluator(
    splits: Splits, recipe: Recipe, name: str, folder: Path, device: torch.device | str, log: Callable[[str], None]
) -> tuple[SmallCNN, dict]:
    """Train the evaluator with early stopping on a validation share of the training split; save it in `folder`."""
    fit, val = split(splits.train, recipe.val_fraction, recipe.seed)
    log(
        f"training evaluator {name} on {len(fit)} real training images ({len(val)} held out to stop early; at "
        f"most {recipe.steps} steps, width {recipe.width}; once, then cached in {folder})"
    )
    early = EarlyStopping(val, recipe.eval_every, recipe.patience)
    started = time.perf_counter()
    cnn = train_classifier(
        fit,
        recipe.steps,
        recipe.batch_size,
        recipe.lr,
        recipe.seed,
        str(device),
        recipe.outlier_weight,
        recipe.width,
        early,
        progress="evaluator",
    )
    accuracy = (predict(cnn, splits.test.images).argmax(1) == splits.test.labels).float().mean().item()
    info = {
        "name": name,
        "data": splits.name,
        "shape": list(splits.train.shape),
        "classes": splits.train.classes,
        "n_train": len(fit),
        "n_val": len(val),
        "n_test": len(splits.test),
        "recipe": dataclasses.asdict(recipe),
        "steps": early.steps,
        "best_step": early.best_step,
        "val_accuracy": round(early.best, 5),
        "test_accuracy": round(accuracy, 5),
        "train_s": round(time.perf_counter() - started, 1),
        "device": str(device),
    }
    save_classifier(cnn, folder / WEIGHTS, info)
    atomic_write_text(folder / INFO, json.dumps(info, indent=2))
    return cnn, info


def describe_training(info: dict) -> str:
    """'test accuracy 0.9812 on 880 images; 264 of at most 495 steps (best validation accuracy 0.9915 at
    step 192), 41 s on cpu' (evaluators cached before early stopping have no validation figures)."""
    limit = info["recipe"]["steps"]
    stopped = (
        f"{info['steps']} of at most {limit} steps (best validation accuracy {info['val_accuracy']:.4f} at step "
        f"{info['best_step']})"
        if "val_accuracy" in info
        else f"{limit} steps"
    )
    return (
        f"test accuracy {info['test_accuracy']:.4f} on {info['n_test']} images; {stopped}, "
        f"{info['train_s']:.0f} s on {info['device']}"
    )
