"""The augmentation experiment: for each seed, a stratified train/val/test split of a (scarce) dataset;
generated images are added to the training split only, in each synthetic-to-real ratio; classifiers are
trained with early stopping on the real validation split and tested on the real held-out split."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, classification_report, confusion_matrix, f1_score

from deepgen.augment.robustness import robust_accuracy
from deepgen.augment.summary import health_lines, results_table, summarise
from deepgen.classify.fit import EarlyStopping, FitConfig, classic_augmentation, fit, predict
from deepgen.classify.zoo import build_classifier
from deepgen.config import DataConfig, RunConfig
from deepgen.data import Splits, load_data
from deepgen.data.imageset import ImageSet, split
from deepgen.errors import ConfigError
from deepgen.io import atomic_write_text
from deepgen.models.base import GenerativeModel
from deepgen.report import Gallery, write_html
from deepgen.sampling import generate, vary_images
from deepgen.train.checkpoint import WEIGHTS, build_model, checkpoints, latest_checkpoint
from deepgen.train.device import resolve_device
from deepgen.train.health import warnings_of
from deepgen.train.runlock import LOCK, locked
from deepgen.train.trainer import train

Source = Callable[[list[int], int], ImageSet]  # (images wanted per class, seed) -> labelled synthetic images
RECORD = "augment.json"  # the settings of the experiment in --out
RERUNNABLE = ("out", "device")  # settings a continued experiment may change


@dataclass
class AugmentConfig:
    data: DataConfig
    out: Path
    classifiers: list[str] = field(default_factory=lambda: ["small-cnn"])
    ratios: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0, 2.0])
    seeds: int = 3
    generator: Path | None = None  # a conditional run
    generators: dict[str, Path] = field(default_factory=dict)  # class name -> unconditional run
    train_generator: str | None = None  # model to train on each seed's training split
    per_class_generators: bool = False
    vary: float | None = None  # synthetic images are variations of the seed's training images at this strength
    generator_steps: int = 2000
    classic: bool = True
    flip: bool = False
    val_fraction: float = 0.2
    eps: list[float] = field(default_factory=lambda: [0.05, 0.1])
    noise: list[float] = field(default_factory=lambda: [0.2])
    blur: list[float] = field(default_factory=lambda: [1.0])
    robust_images: int = 1000  # test images the attacks and corruptions are run on (the first of the split)
    classifier_weights: Path | None = None
    classifier_size: int | None = None
    pretrained: bool = False  # torchvision:NAME classifiers start from their ImageNet weights
    fit: FitConfig = field(default_factory=FitConfig)
    device: str = "auto"


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
    for seed in range(cfg.seeds):
        splits = load_data(dataclasses.replace(cfg.data, split_seed=seed))
        train_set, val = split(splits.train, cfg.val_fraction, seed, f"the training split of {cfg.data.data}")
        source = synthetic_source(cfg, train_set, val, seed, device)
        generator = describe_generator(cfg, seed)
        counts = train_set.class_counts()
        synthetic = {r: source([round(r * c) for c in counts], 1000 * seed + i) for i, r in enumerate(positive(cfg))}
        write_provenance(cfg.out / "provenance" / f"seed{seed}.csv", train_set, val, splits.test, synthetic)
        for classifier in cfg.classifiers:
            for variant, ratio, classic in variants(cfg):
                data = concat(train_set, synthetic[ratio]) if ratio else train_set
                torch.manual_seed(seed)
                model = build_classifier(
                    classifier,
                    train_set.shape,
                    len(train_set.classes),
                    cfg.classifier_weights,
                    cfg.classifier_size,
                    cfg.pretrained,
                )
                augment = classic_augmentation(cfg.flip) if classic else None
                early = EarlyStopping(val, cfg.fit.eval_every, cfg.fit.patience)
                info = fit(model, data, cfg.fit, device, seed, early, augment)
                scores, confusion = test_scores(model, splits.test, device, cfg)
                key = (classifier, variant)
                confusions[key] = confusions.get(key, 0) + confusion
                row = {"seed": seed, "classifier": classifier, "variant": variant, "ratio": ratio, "classic": classic}
                row["generator"] = generator if ratio else ""
                rows.append(
                    row | {"real_train": len(train_set), "synthetic": len(data) - len(train_set)} | info | scores
                )
                log(f"seed {seed} {classifier:<10} {variant:<16} accuracy {scores['accuracy']:.4f}")
    return write_outputs(cfg, rows, confusions, train_set.classes)


def check(cfg: AugmentConfig) -> None:
    sources = sum([cfg.generator is not None, bool(cfg.generators), cfg.train_generator is not None])
    if positive(cfg) and sources != 1:
        raise ConfigError("give exactly one of --generator RUN, --generators CLASS=RUN ..., --train-generator MODEL")
    if cfg.vary is not None and not 0 <= cfg.vary <= 1:
        raise ConfigError(f"--vary must lie in [0, 1], got {cfg.vary}")
    if cfg.seeds < 1 or any(r < 0 for r in cfg.ratios):
        raise ConfigError(f"--seeds must be >= 1 and --ratios >= 0; got {cfg.seeds} and {cfg.ratios}")


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


def describe_generator(cfg: AugmentConfig, seed: int) -> str:
    """Which generator made a seed's synthetic images (a column of results.csv)."""
    if cfg.generator is not None:
        return f"{cfg.generator} ({latest_checkpoint(cfg.generator).name})"
    if cfg.generators:
        return "; ".join(f"{c}={run} ({latest_checkpoint(run).name})" for c, run in cfg.generators.items())
    if cfg.train_generator is not None:
        kind = "one per class" if cfg.per_class_generators else "conditional"
        return (
            f"{cfg.train_generator} ({kind}) trained {cfg.generator_steps} steps on seed {seed}'s training split "
            f"in {cfg.out / 'generators' / f'seed{seed}'}"
        )
    return ""


def positive(cfg: AugmentConfig) -> list[float]:
    return sorted({r for r in cfg.ratios if r > 0})


def variants(cfg: AugmentConfig) -> list[tuple[str, float, bool]]:
    """(name, synthetic ratio, classic augmentation): real only, each ratio, and with classic augmentation."""
    out = [("real", 0.0, False)] + [(f"gan x{r:g}", r, False) for r in positive(cfg)]
    if cfg.classic:
        out += [("classic", 0.0, True)] + [(f"gan x{r:g}+classic", r, True) for r in positive(cfg)]
    return out


def synthetic_source(cfg: AugmentConfig, train_set: ImageSet, val: ImageSet, seed: int, device: torch.device) -> Source:
    """Where this seed's synthetic images come from; generators are trained on `train_set` only."""
    if cfg.vary is not None:
        return variation_source(varying_model(cfg, train_set, val, seed, device), train_set, cfg.vary)
    if cfg.generator is not None:
        return conditional_source(load_generator(cfg.generator, train_set, device, conditional=True))
    if cfg.generators:
        missing = set(train_set.classes) - set(cfg.generators)
        if missing:
            raise ConfigError(f"--generators has no run for class(es) {sorted(missing)}")
        models = [load_generator(cfg.generators[c], train_set, device, conditional=False) for c in train_set.classes]
        return per_class_source(models, train_set.classes)
    if cfg.train_generator is None:
        return lambda counts, seed: train_set.subset(torch.zeros(0, dtype=torch.long))
    folder = cfg.out / "generators" / f"seed{seed}"
    name = generator_data_name(cfg, seed)
    if not cfg.per_class_generators:
        run = train_generator(cfg, Splits(name, train_set, val), folder, seed, conditional=True)
        return conditional_source(load_generator(run, train_set, device, conditional=True))
    models = []
    for c in range(len(train_set.classes)):
        only = lambda s, c=c: s.subset(torch.nonzero(s.labels == c).flatten())  # noqa: E731
        part = Splits(f"{name} class {c}", only(train_set), only(val))
        run = train_generator(cfg, part, folder / f"class{c}", seed, False)
        models.append(load_generator(run, train_set, device, conditional=False))
    return per_class_source(models, train_set.classes)


def generator_data_name(cfg: AugmentConfig, seed: int) -> str:
    """The name a generator's training data goes by (its progress bar says e.g. 'dcgan digits seed 0')."""
    return f"{cfg.data.data} seed {seed}"


def varying_model(
    cfg: AugmentConfig, train_set: ImageSet, val: ImageSet, seed: int, device: torch.device
) -> GenerativeModel:
    """The one generator whose variations are used: --generator RUN, or --train-generator MODEL trained on
    this seed's training split (conditional where the model can be)."""
    if cfg.generators or cfg.per_class_generators:
        raise ConfigError("--vary uses one generator: --generator RUN or --train-generator MODEL")
    run = cfg.generator
    if run is None:
        conditional = "conditional" in RunConfig.default(cfg.train_generator).fields()
        folder = cfg.out / "generators" / f"seed{seed}"
        run = train_generator(cfg, Splits(generator_data_name(cfg, seed), train_set, val), folder, seed, conditional)
    model = load_generator(run, train_set, device, conditional=None)
    if not model.can_vary:
        raise ConfigError(f"{run} is a {model.name}, which cannot vary images; diffusion models and encoders can")
    return model


def variation_source(model: GenerativeModel, train_set: ImageSet, strength: float) -> Source:
    """Variations (model.vary) of the seed's own training images: counts[c] of class c, each made from a training
    image of class c (all of them in a seeded order, repeated as needed) and labelled with that class."""

    def draw(counts: list[int], seed: int) -> ImageSet:
        g = torch.Generator().manual_seed(seed)
        picks = []
        for c, n in enumerate(counts):
            members = torch.nonzero(train_set.labels == c).flatten()
            if n and len(members):
                picks.append(members[torch.randperm(len(members), generator=g)].repeat(-(-n // len(members)))[:n])
        index = torch.cat(picks) if picks else torch.zeros(0, dtype=torch.long)
        labels = train_set.labels[index]
        images = vary_images(model, train_set.images[index], strength, seed, labels if model.conditional else None)
        return ImageSet(images, labels, train_set.classes)

    return draw


def train_generator(cfg: AugmentConfig, data: Splits, out: Path, seed: int, conditional: bool) -> Path:
    """Train (or finish training, or reuse) the generator of one seed (and class) in `out`; an earlier run of this
    experiment (same settings, see claim_out) may have started or finished it."""
    run = RunConfig.default(cfg.train_generator)
    run.data = dataclasses.replace(cfg.data, split_seed=seed)  # recorded in its config.yaml: what it was trained on
    settings = {
        "steps": cfg.generator_steps, "batch_size": min(64, len(data.train)), "seed": seed, "device": cfg.device,
        "out": str(out), "sample_every": cfg.generator_steps, "checkpoint_every": cfg.generator_steps,
        "tensorboard": False,
    }  # fmt: skip
    if "conditional" in run.fields():  # autoencoders have no such option
        settings["conditional"] = conditional
    for key, value in settings.items():
        run.set(key, value)
    done = checkpoints(out)
    if done and int(done[-1].name[5:]) >= cfg.generator_steps:
        return out
    if out.exists() and not done:  # killed before its first checkpoint: nothing to keep
        shutil.rmtree(out)
    return train(run, resume=bool(done), splits=data).run


def load_generator(run: Path, data: ImageSet, device: torch.device, conditional: bool | None) -> GenerativeModel:
    """The model of `run`, checked against the data (and to be conditional or not, unless `conditional` is None)."""
    model, _ = build_model(latest_checkpoint(run) / WEIGHTS, device)
    if conditional is not None and (not model.can_sample or model.conditional != conditional):
        kind = "a conditional generator (--conditional)" if conditional else "an unconditional generator"
        raise ConfigError(f"{run} is not {kind}")
    if model.shape != data.shape or (model.conditional and model.classes != data.classes):
        raise ConfigError(
            f"{run} makes {model.shape} images of classes {model.classes}; the data has {data.shape} and {data.classes}"
        )
    return model


def conditional_source(model: GenerativeModel) -> Source:
    def draw(counts: list[int], seed: int) -> ImageSet:
        labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
        return ImageSet(generate(model, len(labels), seed, labels), labels, model.classes)

    return draw


def per_class_source(models: list[GenerativeModel], classes: list[str]) -> Source:
    def draw(counts: list[int], seed: int) -> ImageSet:
        images = [generate(m, n, seed + c) for c, (m, n) in enumerate(zip(models, counts)) if n]
        labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
        return ImageSet(torch.cat(images), labels, classes)

    return draw


def concat(a: ImageSet, b: ImageSet) -> ImageSet:
    return ImageSet(torch.cat([a.images, b.images]), torch.cat([a.labels, b.labels]), a.classes)


def test_scores(
    model: torch.nn.Module, test: ImageSet, device: torch.device, cfg: AugmentConfig
) -> tuple[dict, np.ndarray]:
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
    path: Path, train_set: ImageSet, val: ImageSet, test: ImageSet, synthetic: dict[float, ImageSet]
) -> None:
    """One row per image: the split it was used in, where it came from, its class and a hash of its pixels."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["split", "source", "ratio", "class", "sha1"])
    parts = [("train", "real", "", train_set), ("val", "real", "", val), ("test", "real", "", test)]
    parts += [("train", "synthetic", f"{r:g}", s) for r, s in synthetic.items()]
    for split_name, source, ratio, data in parts:
        for image, label in zip(data.images, data.labels):
            digest = hashlib.sha1(image.numpy().tobytes()).hexdigest()
            out.writerow([split_name, source, ratio, data.classes[label], digest])
    atomic_write_text(path, buffer.getvalue())


def write_outputs(cfg: AugmentConfig, rows: list[dict], confusions: dict, classes: list[str]) -> dict[str, Path]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(cfg.out / "results.csv", buffer.getvalue())
    paths = {"results": cfg.out / "results.csv", "summary": cfg.out / "summary.md"}
    generators = sorted({row["generator"] for row in rows if row["generator"]})
    used = "".join(f"\n- {g}" for g in generators)
    health = health_lines({run: warnings_of(Path(run)) for run in last_grids(cfg)})
    atomic_write_text(
        paths["summary"],
        summarise(rows, cfg.seeds, health) + (f"\nSynthetic images from:{used}\n" if used else ""),
    )
    from deepgen.augment.plots import save_confusion

    matrices = {}
    for (classifier, variant), matrix in confusions.items():
        name = f"{classifier}_{variant}".replace(" ", "_").replace(":", "-").replace("+", "_plus_")
        key = f"{classifier}, {variant}"
        matrices[key] = cfg.out / "confusion" / f"{name}.png"
        save_confusion(matrix, classes, matrices[key], f"{key} ({cfg.seeds} seeds)")
    paths["confusion matrices"] = cfg.out / "confusion"
    paths["provenance"] = cfg.out / "provenance"
    paths["report"] = write_report(cfg, rows, matrices, health)
    return paths


def write_report(cfg: AugmentConfig, rows: list[dict], matrices: dict[str, Path], health: list[str]) -> Path:
    """report.html: the results table with the conclusions, confusion matrices and the generators' samples."""
    ratios = ", ".join(f"{r:g}" for r in cfg.ratios)
    intro = [
        f"{cfg.data.data}, at most {cfg.data.limit_per_class or 'all'} training images per class, {cfg.seeds} "
        f"seed(s), synthetic-to-real ratios {ratios}; synthetic images are added to the training split only.",
        "Scores are percent on the real test split, mean ± 95% CI over seeds; p-values are paired t-tests.",
        *sorted({f"Synthetic images from {row['generator']}." for row in rows if row["generator"]}),
        *[f"Generator health warning: {line}" for line in health],
    ]
    galleries = [
        Gallery("Confusion matrices (summed over seeds)", matrices),
        Gallery("Generated samples (each generator's last grid)", last_grids(cfg)),
    ]
    return write_html(cfg.out / "report.html", "deepgen augment", intro, results_table(rows, cfg.seeds), galleries)


def last_grids(cfg: AugmentConfig) -> dict[str, Path]:
    """The newest sample grid of every generator run used: given ones and those trained per seed."""
    runs = [cfg.generator] if cfg.generator is not None else list(cfg.generators.values())
    runs += sorted(p.parent for p in (cfg.out / "generators").glob("**/config.yaml"))
    grids = {str(run): sorted((run / "samples").glob("step_*.png")) for run in runs}
    return {name: found[-1] for name, found in grids.items() if found}
