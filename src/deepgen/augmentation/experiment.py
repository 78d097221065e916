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
from deepgen.augmentation.robustness import Attack, robust_accuracy
from deepgen.augmentation.sources import Source, describe_generator, synthetic_source
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
from deepgen.run import LOCK
from deepgen.training.runlock import locked


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
    rows, confusions = [], {}
    for limit in cfg.limits or [cfg.data.limit_per_class]:
        part = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, limit_per_class=limit))
        for seed in range(cfg.seeds):
            found, classes = one_seed(part, seed, device, confusions, log)
            rows += found
            write_results(cfg, rows)  # a stopped experiment keeps the seeds it finished
    return write_outputs(cfg, rows, confusions, classes)


def one_seed(
    cfg: AugmentConfig, seed: int, device: torch.device, confusions: dict, log: Callable[[str], None]
) -> tuple[list[dict], list[str]]:
    """Every classifier and variant on one seed's split (at one --limit-per-class): the real-only baselines first;
    each baseline trained on the real split only (with classic augmentation when it is on) judges the generated
    images for the recipes that ask (filter, soft) and labels the unlabelled pool."""
    splits = load_data(dataclasses.replace(cfg.data, split_seed=seed))
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
    generator = describe_generator(cfg, seed)
    synthetic = generated_sets(cfg, source, train_set.class_counts(), seed, generator)
    write_provenance(cfg.out / "provenance" / f"{cfg.part(seed)}.csv", train_set, val, splits.test, synthetic, pool)
    for classifier in cfg.classifiers:
        judge = functools.partial(predict, judges[classifier])
        for amount, name, classic, mode in synthetic_variants(cfg):
            recipe = get_recipe(name)
            plan = recipe.plan(train_set, synthetic[amount], judge, cfg.recipe)
            stages = [(stage, with_fraction(data, cfg.synthetic_fraction)) for stage, data in plan.stages]
            model, info = train_stages(cfg, classifier, stages, val, seed, classic, device, mode)
            label = amount if isinstance(amount, str) else f"x{amount:g}"
            variant = f"{source_label(cfg)} {label}" + ("" if name == "plain" else f" {name}") + "+classic" * classic
            ratio = len(synthetic[amount]) / len(train_set)
            row = {"ratio": ratio, "classic": classic, "recipe": name, "recipe_settings": recipe.settings(cfg.recipe)}
            row |= {"generator": generator, "real_train": len(train_set), "synthetic": plan.stages[0][1].n_generated}
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


def claim_out(cfg: AugmentConfig) -> None:
    """Record the experiment's settings in --out/augment.json, or check them against the record there: an earlier
    run into --out is continued (its finished generators reused) only with the same settings."""
    record = cfg.out / RECORD
    settings = json.loads(
        json.dumps({k: v for k, v in dataclasses.asdict(cfg).items() if k not in RERUNNABLE}, default=str)
    )
    if record.is_file():
        try:
            before = json.loads(record.read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read {record}: {e}") from None
        changed = [f"{k}: {before.get(k)!r} -> {v!r}" for k, v in settings.items() if before.get(k) != v]
        if changed:
            raise ConfigError(
                f"--out {cfg.out} holds an experiment with other settings ({'; '.join(changed)}); its generators and "
                "results would be mixed with these: choose another --out"
            )
    elif any(p.name != LOCK for p in cfg.out.iterdir()):
        raise ConfigError(f"--out {cfg.out} is not empty and holds no {RECORD}; choose a new or empty folder")
    else:
        atomic_write_text(record, json.dumps(settings, indent=2))


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
