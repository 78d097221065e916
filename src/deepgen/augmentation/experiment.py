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
from deepgen.augmentation.robustness import Attack, robust_accuracy
from deepgen.augmentation.sources import (
    Source,
    describe_generator,
    generator_config,
    generator_settings,
    given_options,
    synthetic_source,
)
from deepgen.augmentation.stats import pack
from deepgen.augmentation.synthetic import cached_pool, leaked, pool_counts
from deepgen.classify.base import Classifier
from deepgen.classify.classic import classic_augmentation
from deepgen.classify.fit import EarlyStopping, TrainingSet, fit, predict
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
        row["classic_kind"] = cfg.classic_kind if row["classic"] else ""
        rows.append({"seed": seed, "per_class": per_class, "classifier": classifier, "variant": variant} | row | scores)
        log(f"{per_class} per class, seed {seed} {classifier:<10} {variant:<24} accuracy {scores['accuracy']:.4f}")

    for classifier in cfg.classifiers:
        for mode in cfg.adversarial:
            for variant, classic in [("real", False)] + [("classic", True)] * cfg.classic:
                stages = [("train", TrainingSet(train_set))]
                model, info = train_stages(cfg, classifier, stages, val, seed, classic, device, mode)
                if mode == "none" or classifier not in judges:  # the classic-augmented one when there is one: it
                    judges[classifier] = model  # is the better judge; standard training when that is run
                row = {"ratio": 0.0, "classic": classic, "generator": "", "real_train": len(train_set), "synthetic": 0}
                row |= {"adversarial": mode, "baseline": baseline_of(variant, mode)}
                record(classifier, variant + at_label(mode), model, row | info)
    if not wants_generated(cfg):
        write_provenance(cfg.out / "provenance" / f"{cfg.part(seed)}.csv", train_set, val, splits.test, {})
        return rows, train_set.classes
    if "pseudo" in cfg.recipe.names and leaked(train_set, splits.test):
        raise DataError(
            f"seed {seed}: the judge that gives pseudo-labels was trained on {leaked(train_set, splits.test)} image(s) "
            "whose pixels equal test images; remove the duplicates (deepgen inspect --data ...)"
        )
    pool = unlabelled_pool(cfg, splits, train_set, val, functools.partial(predict, judges[cfg.classifiers[0]]), seed)
    source = synthetic_source(cfg, concat(train_set, pool), val, seed, device)
    generator, settings = describe_generator(cfg, seed), generator_settings(cfg, seed)
    if settings:
        atomic_write_text(cfg.out / "provenance" / f"{cfg.part(seed)}-generator.json", settings + "\n")
    synthetic = generated_sets(cfg, source, train_set.class_counts(), seed, generator)
    write_provenance(cfg.out / "provenance" / f"{cfg.part(seed)}.csv", train_set, val, splits.test, synthetic, pool)
    shown = synthetic_variants(cfg)[0][2:]  # the kept and rejected images are saved for one training setting
    for classifier in cfg.classifiers:
        judge = functools.partial(predict, judges[classifier])
        for amount, name, classic, mode in synthetic_variants(cfg):
            recipe = get_recipe(name)
            plan = recipe.plan(train_set, synthetic[amount], judge, cfg.recipe)
            label = amount if isinstance(amount, str) else f"x{amount:g}"
            if classifier == cfg.classifiers[0] and (classic, mode) == shown:
                save_used(cfg.out / "samples" / cfg.part(seed) / f"{name}_{label}", synthetic[amount], plan)
            stages = [(stage, with_fraction(data, cfg.synthetic_fraction)) for stage, data in plan.stages]
            model, info = train_stages(cfg, classifier, stages, val, seed, classic, device, mode)
            variant = f"{source_label(cfg)} {label}" + ("" if name == "plain" else f" {name}") + "+classic" * classic
            ratio = len(synthetic[amount]) / len(train_set)
            row = {"ratio": ratio, "classic": classic, "recipe": name, "recipe_settings": recipe.settings(cfg.recipe)}
            row |= {"generator": generator, "generator_settings": settings}
            row |= {"real_train": len(train_set), "synthetic": plan.stages[0][1].n_generated}
            row |= {"synthetic_fraction": cfg.synthetic_fraction, "adversarial": mode}
            row |= {"baseline": ("classic" if classic else "real") + at_label(mode)}
            record(classifier, variant + at_label(mode), model, row | plan.info | info)
    return rows, train_set.classes


def at_label(mode: str) -> str:
    """How a variant's name says it was trained adversarially: '+fgsm-AT', ... (nothing for standard training)."""
    return "" if mode == "none" else f"+{mode}-AT"


def baseline_of(variant: str, mode: str) -> str:
    """What a variant without generated images is compared with: AT with the same data without AT, classic with
    real-only, real-only with nothing."""
    return variant if mode != "none" else "" if variant == "real" else "real"


def wants_generated(cfg: AugmentConfig) -> bool:
    return bool(positive(cfg)) or cfg.synthetic_fraction > 0


def generated_sets(
    cfg: AugmentConfig, source: Source, counts: list[int], seed: int, generator: str
) -> dict[float | str, ImageSet]:
    """The seed's generated images: per --ratio (ratio x the real images per class), or the pool drawn at
    --synthetic-fraction of every batch (--pool images, cached in --out/pools with their provenance)."""
    if cfg.synthetic_fraction > 0:
        size = cfg.pool or 10 * sum(counts)
        path = cfg.out / "pools" / f"{cfg.part(seed)}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        return {pool_label(cfg): cached_pool(path, source, pool_counts(counts, size), 1000 * seed, generator)}
    return {r: source([round(r * c) for c in counts], 1000 * seed + i) for i, r in enumerate(positive(cfg))}


def pool_label(cfg: AugmentConfig) -> str:
    """How variants name the pool: 'pool@F', F the share of every batch it gives."""
    return f"pool@{cfg.synthetic_fraction:g}"


def with_fraction(data: TrainingSet, fraction: float) -> TrainingSet:
    """`data` drawn at `fraction` generated images per batch when it holds any (and fraction > 0)."""
    return dataclasses.replace(data, fraction=fraction) if fraction > 0 and data.n_generated else data


def train_stages(
    cfg: AugmentConfig,
    classifier: str,
    stages: list[tuple[str, TrainingSet]],
    val: ImageSet,
    seed: int,
    classic: bool,
    device: torch.device,
    adversarial: str = "none",
) -> tuple[Classifier, dict]:
    """A new classifier (seeded) trained on each stage's data in turn (with the `adversarial` objective), with early
    stopping on the real `val`; the last stage's figures, and every stage's images (real and generated) and steps as
    JSON (`stages`)."""
    torch.manual_seed(seed)
    data = stages[0][1].data
    model = build_classifier(
        classifier, data.shape, len(data.classes), cfg.classifier_weights, cfg.classifier_size, cfg.pretrained
    )
    augment = classic_augmentation(cfg.classic_kind, cfg.flip) if classic else None
    history, fit_cfg = [], dataclasses.replace(cfg.fit, adversarial=adversarial)
    for name, data in stages:
        early = EarlyStopping(val, cfg.fit.eval_every, cfg.fit.patience)
        info = fit(model, data, fit_cfg, device, seed, early, augment)
        history.append({"stage": name, "real": len(data) - data.n_generated, "generated": data.n_generated} | info)
    return model, info | {"stages": json.dumps(history)}


def check(cfg: AugmentConfig) -> None:
    sources = sum([cfg.generator is not None, bool(cfg.generators), cfg.train_generator is not None])
    if wants_generated(cfg) and sources != 1:
        raise ConfigError("give exactly one of --generator RUN, --generators CLASS=RUN ..., --train-generator MODEL")
    validate(cfg)  # the bounds of each option (the command line checks them as it reads them)
    for name in cfg.recipe.names:
        get_recipe(name)
    if cfg.classic_only and not cfg.classic:
        raise ConfigError("--classic-only puts generated images on top of classic augmentation; drop --no-classic")
    if cfg.unlabeled and (cfg.vary is not None or cfg.generator is not None or cfg.generators):
        raise ConfigError("--unlabeled feeds a generator trained here: use it with --train-generator MODEL")
    trained = [m for m in cfg.adversarial if m in ("pgd", "trades")]
    if trained and cfg.eps and cfg.attack_steps <= cfg.fit.attack.steps:
        raise ConfigError(
            f"--attack-steps {cfg.attack_steps}: the evaluation attack must be stronger than {trained[0]} training's "
            f"{cfg.fit.attack.steps} steps (--adv-steps)"
        )
    if wants_generated(cfg):
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


def synthetic_variants(cfg: AugmentConfig) -> list[tuple[float | str, str, bool, str]]:
    """(ratio or pool, recipe, classic augmentation, adversarial training) of every variant with generated images."""
    modes = ([] if cfg.classic_only else [False]) + ([True] if cfg.classic else [])
    amounts: list[float | str] = [pool_label(cfg)] if cfg.synthetic_fraction > 0 else list(positive(cfg))
    return [
        (a, name, classic, mode)
        for mode in cfg.adversarial
        for classic in modes
        for a in amounts
        for name in cfg.recipe.names
    ]


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
    n, attack = cfg.robust_images, Attack(cfg.attack_steps, cfg.attack_restarts, cfg.attack_loss)
    classes = range(len(test.classes))
    report = classification_report(
        truth, pred, labels=list(classes), target_names=test.classes, output_dict=True, zero_division=0
    )
    scores = {
        "accuracy": accuracy_score(truth, pred),
        "balanced_accuracy": balanced_accuracy_score(truth, pred),
        "macro_f1": f1_score(truth, pred, average="macro", zero_division=0),
        **robust_accuracy(model, test.images[:n], test.labels[:n], device, cfg.eps, cfg.noise, cfg.blur, 500, attack),
        "robust_attack": str(attack),
        "per_class_f1": json.dumps({c: round(report[c]["f1-score"], 4) for c in test.classes}),
        "robust_images": min(n, len(test)),
        "correct": pack(pred == truth),
    }
    return scores, confusion_matrix(truth, pred, labels=list(classes))


def write_provenance(
    path: Path,
    train_set: ImageSet,
    val: ImageSet,
    test: ImageSet,
    synthetic: dict[float | str, ImageSet],
    pool: ImageSet | None = None,
) -> None:
    """One row per image: the split it was used in, where it came from, its class and a hash of its pixels (the
    unlabelled pool, which only the generator sees, with the class the judge gave it)."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["split", "source", "ratio", "class", "sha1"])
    parts = [("train", "real", "", train_set), ("val", "real", "", val), ("test", "real", "", test)]
    parts += [("generator", "unlabelled", "", pool)] if pool is not None and len(pool) else []
    parts += [("train", "synthetic", r if isinstance(r, str) else f"{r:g}", s) for r, s in synthetic.items()]
    for split_name, source, ratio, data in parts:
        for digest, label in zip(image_hashes(data.images), data.labels):
            out.writerow([split_name, source, ratio, data.classes[label], digest])
    atomic_write_text(path, buffer.getvalue())
