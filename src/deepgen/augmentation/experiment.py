"""The augmentation experiment: for each seed, a stratified train/val/test split of a (scarce) dataset;
generated images are added to the training split only, in each synthetic-to-real ratio; classifiers are
trained with early stopping on the real validation split and tested on the real held-out split."""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, classification_report, confusion_matrix, f1_score

from deepgen.augmentation.config import RECORD, RERUNNABLE, AugmentConfig
from deepgen.augmentation.outputs import write_outputs, write_results
from deepgen.augmentation.pool import image_hashes, unlabelled_pool
from deepgen.augmentation.recipes import get_recipe
from deepgen.augmentation.robustness import robust_accuracy
from deepgen.augmentation.sources import describe_generator, synthetic_source
from deepgen.classify.base import Classifier
from deepgen.classify.fit import EarlyStopping, TrainingSet, classic_augmentation, fit, predict
from deepgen.classify.zoo import build_classifier
from deepgen.config import validate
from deepgen.data import load_data
from deepgen.data.imageset import ImageSet, split
from deepgen.device import resolve_device
from deepgen.errors import ConfigError, DataError
from deepgen.io import atomic_write_text
from deepgen.training.runlock import claim, locked


def run_experiment(cfg: AugmentConfig, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Run every seed, classifier and variant; write results.csv, summary.md, confusion matrices and the
    provenance of every image; return the paths written. --out belongs to one experiment (recorded in
    augment.json, locked while it runs): running it again continues it, with other settings is refused."""
    check(cfg)
    with locked(cfg.out, "--out"):
        claim_out(cfg)
        return experiment(cfg, log)


def experiment(cfg: AugmentConfig, log: Callable[[str], None]) -> dict[str, Path]:
    device = resolve_device(cfg.device)
    rows, confusions, checks = [], {}, {}
    for limit in cfg.limits or [cfg.data.limit_per_class]:
        part = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, limit_per_class=limit))
        for seed in range(cfg.seeds):
            found, classes = one_seed(part, seed, device, confusions, log, checks)
            rows += found
            write_results(cfg, rows)  # a stopped experiment keeps the seeds it finished
    return write_outputs(cfg, rows, confusions, classes, list(checks))


def one_seed(
    cfg: AugmentConfig,
    seed: int,
    device: torch.device,
    confusions: dict,
    log: Callable[[str], None],
    checks: dict[str, None],
) -> tuple[list[dict], list[str]]:
    """Every classifier and variant on one seed's split (at one --limit-per-class): the real-only baselines first;
    each baseline trained on the real split only (with classic augmentation when it is on) judges the generated
    images for the recipes that ask (filter, soft) and labels the unlabelled pool. What the data checks find on load
    is added to `checks` (an ordered set)."""
    splits = load_data(dataclasses.replace(cfg.data, split_seed=seed))
    if len(splits.train.classes) < 2:
        raise DataError(
            f"{cfg.data.data} holds one class ({', '.join(splits.train.classes)}); a classifier needs at least two "
            "to tell apart, or every variant scores 100 %: give a folder with a sub-folder per class"
        )
    checks.update(dict.fromkeys(splits.checks))
    train_set, val = split(splits.train, cfg.val_fraction, seed, f"the training split of {cfg.data.data}")
    per_class = cfg.data.limit_per_class or "all"
    rows, judges = [], {}

    def record(classifier: str, variant: str, model: Classifier, row: dict) -> None:
        scores, confusion = test_scores(model, splits.test, device, cfg)
        key = (setting_label(classifier, per_class if cfg.limits else None), variant)
        confusions[key] = confusions.get(key, 0) + confusion
        rows.append({"seed": seed, "per_class": per_class, "classifier": classifier, "variant": variant} | row | scores)
        log(f"{per_class} per class, seed {seed} {classifier:<10} {variant:<24} accuracy {scores['accuracy']:.4f}")

    for classifier in cfg.classifiers:
        for variant, classic in [("real", False)] + [("classic", True)] * cfg.classic:
            model, info = train_stages(cfg, classifier, [("train", TrainingSet(train_set))], val, seed, classic, device)
            judges[classifier] = model  # the classic-augmented one when there is one: it is the better judge
            row = {"ratio": 0.0, "classic": classic, "generator": "", "real_train": len(train_set), "synthetic": 0}
            record(classifier, variant, model, row | info)
    if not positive(cfg):
        write_provenance(cfg.out / "provenance" / f"{cfg.part(seed)}.csv", train_set, val, splits.test, {})
        return rows, train_set.classes
    pool = unlabelled_pool(cfg, splits, train_set, val, functools.partial(predict, judges[cfg.classifiers[0]]), seed)
    source = synthetic_source(cfg, concat(train_set, pool), val, seed, device)
    counts = train_set.class_counts()
    synthetic = {r: source([round(r * c) for c in counts], 1000 * seed + i) for i, r in enumerate(positive(cfg))}
    write_provenance(cfg.out / "provenance" / f"{cfg.part(seed)}.csv", train_set, val, splits.test, synthetic, pool)
    generator = describe_generator(cfg, seed)
    for classifier in cfg.classifiers:
        judge = functools.partial(predict, judges[classifier])
        for ratio, name, classic in synthetic_variants(cfg):
            recipe = get_recipe(name)
            plan = recipe.plan(train_set, synthetic[ratio], judge, cfg.recipe)
            model, info = train_stages(cfg, classifier, plan.stages, val, seed, classic, device)
            variant = f"{source_label(cfg)} x{ratio:g}" + ("" if name == "plain" else f" {name}") + "+classic" * classic
            row = {"ratio": ratio, "classic": classic, "recipe": name, "recipe_settings": recipe.settings(cfg.recipe)}
            row |= {"generator": generator, "real_train": len(train_set), "synthetic": plan.stages[0][1].n_generated}
            record(classifier, variant, model, row | plan.info | info)
    return rows, train_set.classes


def train_stages(
    cfg: AugmentConfig,
    classifier: str,
    stages: list[tuple[str, TrainingSet]],
    val: ImageSet,
    seed: int,
    classic: bool,
    device: torch.device,
) -> tuple[Classifier, dict]:
    """A new classifier (seeded) trained on each stage's data in turn, with early stopping on the real `val`;
    the last stage's figures, and every stage's images (real and generated) and steps as JSON (`stages`)."""
    torch.manual_seed(seed)
    data = stages[0][1].data
    model = build_classifier(
        classifier, data.shape, len(data.classes), cfg.classifier_weights, cfg.classifier_size, cfg.pretrained
    )
    augment = classic_augmentation(cfg.flip) if classic else None
    history = []
    for name, data in stages:
        early = EarlyStopping(val, cfg.fit.eval_every, cfg.fit.patience)
        info = fit(model, data, cfg.fit, device, seed, early, augment)
        history.append({"stage": name, "real": len(data) - data.n_generated, "generated": data.n_generated} | info)
    return model, info | {"stages": json.dumps(history)}


def check(cfg: AugmentConfig) -> None:
    sources = sum([cfg.generator is not None, bool(cfg.generators), cfg.train_generator is not None])
    if positive(cfg) and sources != 1:
        raise ConfigError("give exactly one of --generator RUN, --generators CLASS=RUN ..., --train-generator MODEL")
    validate(cfg)  # the bounds of each option (the command line checks them as it reads them)
    for name in cfg.recipe.names:
        get_recipe(name)
    if cfg.classic_only and not cfg.classic:
        raise ConfigError("--classic-only puts generated images on top of classic augmentation; drop --no-classic")
    if cfg.unlabeled and (cfg.vary is not None or cfg.generator is not None or cfg.generators):
        raise ConfigError("--unlabeled feeds a generator trained here: use it with --train-generator MODEL")


def claim_out(cfg: AugmentConfig) -> None:
    """Record the experiment's settings in --out/augment.json, or check them against the record there: an earlier
    run into --out is continued (its finished generators reused) only with the same settings."""
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RERUNNABLE}
    claim(cfg.out, RECORD, settings, "an experiment")


def positive(cfg: AugmentConfig) -> list[float]:
    return sorted({r for r in cfg.ratios if r > 0})


def synthetic_variants(cfg: AugmentConfig) -> list[tuple[float, str, bool]]:
    """(ratio, recipe, classic augmentation) of every variant with generated images."""
    modes = ([] if cfg.classic_only else [False]) + ([True] if cfg.classic else [])
    return [(r, name, classic) for classic in modes for r in positive(cfg) for name in cfg.recipe.names]


def source_label(cfg: AugmentConfig) -> str:
    """How variants name their generated images: 'vary' for variations of real images, else 'gan'."""
    return "gan" if cfg.vary is None else "vary"


def setting_label(classifier: str, per_class: int | str | None) -> str:
    return classifier if per_class is None else f"{classifier}, {per_class} per class"


def concat(a: ImageSet, b: ImageSet) -> ImageSet:
    return ImageSet(torch.cat([a.images, b.images]), torch.cat([a.labels, b.labels]), a.classes)


def test_scores(model: Classifier, test: ImageSet, device: torch.device, cfg: AugmentConfig) -> tuple[dict, np.ndarray]:
    """Accuracy, balanced accuracy, macro-F1, per-class report and robustness on the real test split."""
    truth, pred = test.labels.numpy(), predict(model, test.images).argmax(1).numpy()
    n = cfg.robust_images
    classes = range(len(test.classes))
    report = classification_report(
        truth, pred, labels=list(classes), target_names=test.classes, output_dict=True, zero_division=0
    )
    scores = {
        "accuracy": accuracy_score(truth, pred),
        "balanced_accuracy": balanced_accuracy_score(truth, pred),
        "macro_f1": f1_score(truth, pred, average="macro", zero_division=0),
        **robust_accuracy(model, test.images[:n], test.labels[:n], device, cfg.eps, cfg.noise, cfg.blur),
        "per_class_f1": json.dumps({c: round(report[c]["f1-score"], 4) for c in test.classes}),
        "robust_images": min(n, len(test)),
    }
    return scores, confusion_matrix(truth, pred, labels=list(classes))


def write_provenance(
    path: Path,
    train_set: ImageSet,
    val: ImageSet,
    test: ImageSet,
    synthetic: dict[float, ImageSet],
    pool: ImageSet | None = None,
) -> None:
    """One row per image: the split it was used in, where it came from, its class and a hash of its pixels (the
    unlabelled pool, which only the generator sees, with the class the judge gave it)."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["split", "source", "ratio", "class", "sha1"])
    parts = [("train", "real", "", train_set), ("val", "real", "", val), ("test", "real", "", test)]
    parts += [("generator", "unlabelled", "", pool)] if pool is not None and len(pool) else []
    parts += [("train", "synthetic", f"{r:g}", s) for r, s in synthetic.items()]
    for split_name, source, ratio, data in parts:
        for digest, label in zip(image_hashes(data.images), data.labels):
            out.writerow([split_name, source, ratio, data.classes[label], digest])
    atomic_write_text(path, buffer.getvalue())
