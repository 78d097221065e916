"""The augmentation experiment: for each seed, a stratified train/val/test split of a (scarce) dataset;
generated images are added to the training split only, in each synthetic-to-real ratio; classifiers are
trained with early stopping on the real validation split and tested on the real held-out split."""

from __future__ import annotations

import csv
import dataclasses
import functools
import inspect
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, classification_report, confusion_matrix, f1_score

from deepgen.augmentation.config import LEFTOVERS, RECORD, RERUNNABLE, AugmentConfig
from deepgen.augmentation.outputs import save_used, write_outputs, write_results
from deepgen.augmentation.pool import image_hashes, unlabelled_pool
from deepgen.augmentation.recipes import get_recipe
from deepgen.augmentation.robustness import robust_accuracy
from deepgen.augmentation.sources import (
    describe_generator,
    generator_config,
    generator_settings,
    given_options,
    synthetic_source,
)
from deepgen.classify.base import Classifier
from deepgen.classify.fit import EarlyStopping, TrainingSet, classic_augmentation, fit, predict
from deepgen.classify.zoo import build_classifier
from deepgen.config import validate
from deepgen.data import load_data
from deepgen.data.imageset import ImageSet, split
from deepgen.device import resolve_device
from deepgen.errors import ConfigError, DataError
from deepgen.io import atomic_write_text
from deepgen.models.base import GenerativeModel
from deepgen.registry import get_model
from deepgen.registry import models as registry_models
from deepgen.run import open_run
from deepgen.training.runlock import claim, locked, mark_failed


def run_experiment(cfg: AugmentConfig, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Run every seed, classifier and variant; write results.csv, summary.md, confusion matrices and the
    provenance of every image; return the paths written. --out belongs to one experiment (recorded in
    augment.json, locked while it runs): running it again continues it, with other settings is refused."""
    check(cfg)
    with locked(cfg.out, "--out"):
        claim_out(cfg)
        try:
            return experiment(cfg, log)
        except Exception:  # an interrupted one (KeyboardInterrupt, Interrupted) is continued by the same command
            mark_failed(cfg.out, RECORD)
            raise


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
    generator, settings = describe_generator(cfg, seed), generator_settings(cfg, seed)
    if settings:
        atomic_write_text(cfg.out / "provenance" / f"{cfg.part(seed)}-generator.json", settings + "\n")
    for classifier in cfg.classifiers:
        judge = functools.partial(predict, judges[classifier])
        for ratio, name, classic in synthetic_variants(cfg):
            recipe = get_recipe(name)
            plan = recipe.plan(train_set, synthetic[ratio], judge, cfg.recipe)
            if classifier == cfg.classifiers[0] and classic == synthetic_variants(cfg)[0][2]:
                save_used(cfg.out / "samples" / cfg.part(seed) / f"{name}_x{ratio:g}", synthetic[ratio], plan)
            model, info = train_stages(cfg, classifier, plan.stages, val, seed, classic, device)
            variant = f"{source_label(cfg)} x{ratio:g}" + ("" if name == "plain" else f" {name}") + "+classic" * classic
            row = {"ratio": ratio, "classic": classic, "recipe": name, "recipe_settings": recipe.settings(cfg.recipe)}
            row |= {"generator": generator, "generator_settings": settings}
            row |= {"real_train": len(train_set), "synthetic": plan.stages[0][1].n_generated}
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
    if positive(cfg):
        check_generators(cfg)
        check_unlabeled(cfg)


def check_generators(cfg: AugmentConfig) -> None:
    """Refuse, before anything trains, a generator that cannot serve: one that cannot draw a requested class (or
    with --vary, cannot vary images), and generator options that do not fit the model (generator_config)."""
    if cfg.train_generator is not None:
        generator_config(cfg)
    elif cfg.generator_set or cfg.generator_config is not None:
        raise ConfigError(
            "--generator-set and --generator-config configure generators trained here: use --train-generator"
        )
    if cfg.vary is not None and (cfg.generators or cfg.per_class_generators):
        raise ConfigError("--vary uses one generator: --generator RUN or --train-generator MODEL")
    if cfg.train_generator is not None:
        conditional = not cfg.per_class_generators and cfg.vary is None
        check_family(cfg, get_model(cfg.train_generator), f"--train-generator {cfg.train_generator}", conditional)
    for run in [cfg.generator] if cfg.generator is not None else list(cfg.generators.values()):
        recorded = open_run(run).config
        family, what = get_model(recorded.model), f"{run} (a {recorded.model})"
        if cfg.vary is None and family.is_conditional(recorded.model_config) != (cfg.generator is not None):
            kind = "a conditional generator (--conditional)" if cfg.generator is not None else "unconditional"
            raise ConfigError(f"{what} is not {kind}")
        check_family(cfg, family, what, conditional=False)


def check_family(cfg: AugmentConfig, family: type[GenerativeModel], what: str, conditional: bool) -> None:
    """Refuse a model family that cannot do what the experiment asks of `what`: vary images (--vary), draw new
    ones, or (`conditional`) draw a requested class."""
    if cfg.vary is not None and not varies(family):
        models = ", ".join(n for n, m in sorted(registry_models().items()) if varies(m))
        raise ConfigError(f"--vary: {what} cannot vary images; these can: {models}")
    if cfg.vary is None and not family.can_sample:
        raise ConfigError(f"{what} cannot draw new images (it has no prior); choose a generative model")
    if conditional and not family.can_condition:
        models = ", ".join(n for n, m in sorted(registry_models().items()) if m.can_condition)
        raise ConfigError(
            f"{what} cannot draw a requested class (it has no --conditional): add --per-class-generators (one per "
            f"class) or choose a conditional model: {models}"
        )


def varies(family: type[GenerativeModel]) -> bool:
    """Whether models of `family` make variations of given images (declared, or any model with an encoder)."""
    declared = inspect.getattr_static(family, "can_vary")
    return family.can_encode if isinstance(declared, property) else bool(declared)


def check_unlabeled(cfg: AugmentConfig) -> None:
    """--unlabeled N at most what each seed's split leaves: its training images beyond --limit-per-class (and not
    equal to a test image)."""
    if not cfg.unlabeled:
        return
    for limit in cfg.limits or [cfg.data.limit_per_class]:
        for seed in range(cfg.seeds):
            data = dataclasses.replace(cfg.data, split_seed=seed, limit_per_class=limit)
            splits = load_data(data)
            everything = load_data(dataclasses.replace(data, limit_per_class=None)).train
            taken = set(image_hashes(torch.cat([splits.train.images, splits.test.images])))
            free = sum(h not in taken for h in image_hashes(everything.images))
            if cfg.unlabeled > free:
                at = f"at {limit} images per class" if limit else "without --limit-per-class"
                raise ConfigError(
                    f"--unlabeled {cfg.unlabeled}: the training split of {cfg.data.data} {at} leaves {free} other "
                    f"images for seed {seed}; ask for at most {free}"
                )


def claim_out(cfg: AugmentConfig) -> None:
    """Record the experiment's settings (and the generator options given) in --out/augment.json, or check them
    against the record there: an earlier run into --out is continued (its finished generators reused) only with
    the same settings, unless it failed: then a corrected command takes --out over."""
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RERUNNABLE}
    claim(cfg.out, RECORD, settings | {"generator_options": given_options(cfg)}, "an experiment", LEFTOVERS)


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
