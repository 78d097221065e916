"""Where an experiment's generated images come from: a source gives, for a seed, labelled images in the numbers
asked per class. Samples of a conditional run or of one unconditional run per class, of a generator trained on the
seed's training split, or variations of the seed's own training images (--vary): all are the same `Source`."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from deepgen.config import RunConfig, key_value
from deepgen.data import Splits
from deepgen.data.imageset import ImageSet
from deepgen.errors import ConfigError, Interrupted
from deepgen.models.base import GenerativeModel
from deepgen.registry import get_model
from deepgen.registry import models as registry_models
from deepgen.run import CONFIG, checkpoints, latest_checkpoint, open_run, step_of
from deepgen.sampling import generate, vary_images
from deepgen.training.runlock import locked
from deepgen.training.trainer import train

if TYPE_CHECKING:
    from deepgen.augmentation.config import AugmentConfig

Source = Callable[[list[int], int], ImageSet]  # (images wanted per class, seed) -> labelled synthetic images


# Options of a trained generator that the experiment sets itself, and the flag of augment that sets each.
OWNED = {
    "steps": "--generator-steps", "epochs": "--generator-steps", "seed": "--seeds", "out": "--out",
    "device": "--device", "conditional": "--per-class-generators",
}  # fmt: skip
BOOKKEEPING = (
    "out",
    "seed",
    "device",
    "tensorboard",
    "sample_every",
    "checkpoint_every",
    "keep_checkpoints",
    "log_every",
)


def generator_config(cfg: AugmentConfig) -> RunConfig:
    """The options of the generators this experiment trains, but those it sets per seed (data, seed, steps, output
    folder, device; see train_generator): the model's defaults, then --generator-config FILE, then
    --generator-set KEY=VALUE ... (a ConfigError names a bad one, or one the experiment sets, and its flag)."""
    if cfg.generator_config is not None:
        run = RunConfig.load(cfg.generator_config)
        if run.model != cfg.trained:
            raise ConfigError(
                f"--generator-config {cfg.generator_config} configures a {run.model}, not the "
                f"--train-generator {cfg.trained}"
            )
    else:
        run = RunConfig.default(cfg.trained)
        run.train.tensorboard = False
    fields, mine = run.fields(), own_settings(cfg)
    for pair, key, _ in mine:
        key = key.rpartition(".")[2]
        if key in OWNED or (key in fields and fields[key][0] == "data"):
            where = OWNED.get(key, "the experiment's data options (--data, --image-size, ...)")
            raise ConfigError(f"--generator-set {pair}: the experiment sets {key} of its generators; use {where}")
    for pair, key, value in mine:
        try:
            run.set(key, value)
        except ConfigError as e:
            raise ConfigError(f"--generator-set {pair}: {e}") from None
    return run


def own_settings(cfg: AugmentConfig) -> list[tuple[str, str, str]]:
    """(pair, key, value) of each --generator-set KEY=VALUE for the generator of `cfg` (a config of one): those
    without a model and those given as MODEL:KEY=VALUE for its model."""
    found = []
    for pair in cfg.generator_set:
        key, value = key_value(pair, "--generator-set")
        model, _, key = key.rpartition(":")
        if model and model not in registry_models():
            raise ConfigError(f"--generator-set {pair}: no model {model!r} (MODEL:KEY=VALUE, e.g. dcgan:lecam=0.1)")
        if model in ("", cfg.trained):
            found.append((pair, key, value))
    return found


def given_options(cfg: AugmentConfig) -> dict[str, object]:
    """The generator options this experiment was given (--generator-config FILE, then --generator-set), as
    augment.json records them: a changed file or setting makes another experiment."""
    if cfg.trained is None:
        return {}
    run, default = generator_config(cfg), RunConfig.default(cfg.trained)
    values = run.to_dict()
    return {
        name: values[section][name]
        for name, (section, _) in run.fields().items()
        if section != "data"
        and (name == "steps" or name not in OWNED)  # steps of --generator-config FILE count (--generator-steps: auto)
        and values[section][name] != default.to_dict()[section][name]
    }


def settings_of(run: Path) -> dict[str, object]:
    """What a trained generator ran with (its config.yaml, auto values as sized): every option but the data
    section and bookkeeping, as results.csv and the provenance record them."""
    recorded = open_run(run).config.to_dict()
    return {
        name: value
        for section in ("train", "model_config")
        for name, value in recorded[section].items()
        if name not in BOOKKEEPING
    }


def generator_folder(cfg: AugmentConfig, seed: int, name: str) -> Path:
    """Where the generator `name` of `seed` is trained: OUT/generators/seedS/NAME (one per class: .../classC)."""
    return cfg.out / "generators" / cfg.part(seed) / name


def generator_runs(cfg: AugmentConfig, seed: int, name: str) -> list[Path]:
    """The runs of generator `name` this experiment trained for `seed` (one, or one per class)."""
    return sorted(p.parent for p in generator_folder(cfg, seed, name).glob(f"**/{CONFIG}"))


def describe_generator(cfg: AugmentConfig, seed: int, name: str) -> str:
    """Which generator (of a config of one, see cells.one_generator) made a seed's synthetic images (a column of
    results.csv)."""
    if cfg.run is not None:
        return f"{cfg.run} ({latest_checkpoint(cfg.run).name})"
    if cfg.generators:
        return "; ".join(f"{c}={run} ({latest_checkpoint(run).name})" for c, run in cfg.generators.items())
    if cfg.trained is not None:
        kind = "one per class" if cfg.per_class_generators else "conditional"
        limit = f" of {cfg.data.limit_per_class} images per class" if cfg.limits else ""
        pool = f" and up to {cfg.unlabeled} pseudo-labelled unlabelled images" if cfg.unlabeled else ""
        steps = sorted({settings_of(run)["steps"] for run in generator_runs(cfg, seed, name)})
        return (
            f"{cfg.trained} ({kind}) trained {'/'.join(map(str, steps))} steps on seed {seed}'s training "
            f"split{limit}{pool} in {generator_folder(cfg, seed, name)}"
        )
    return ""


def generator_settings(cfg: AugmentConfig, seed: int, name: str) -> str:
    """The settings of the seed's trained generator(s) as JSON (a column of results.csv; one per class: a mapping)."""
    runs = generator_runs(cfg, seed, name) if cfg.trained is not None else []
    found = {str(run.relative_to(cfg.out)): settings_of(run) for run in runs}
    if len({json.dumps(v, sort_keys=True) for v in found.values()}) == 1:
        return json.dumps(next(iter(found.values())))
    return json.dumps(found) if found else ""


def synthetic_source(
    cfg: AugmentConfig, train_set: ImageSet, val: ImageSet, seed: int, device: torch.device, name: str
) -> Source:
    """Where this seed's synthetic images come from (a config of one generator, `name`); generators are trained on
    `train_set` only."""
    folder = generator_folder(cfg, seed, name)
    if cfg.vary is not None:
        return variation_source(varying_model(cfg, train_set, val, seed, device, folder), train_set, cfg.vary)
    if cfg.run is not None:
        return conditional_source(load_generator(cfg.run, train_set, device, conditional=True))
    if cfg.generators:
        missing = set(train_set.classes) - set(cfg.generators)
        if missing:
            raise ConfigError(f"--generators has no run for class(es) {sorted(missing)}")
        models = [load_generator(cfg.generators[c], train_set, device, conditional=False) for c in train_set.classes]
        return per_class_source(models, train_set.classes)
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
    cfg: AugmentConfig, train_set: ImageSet, val: ImageSet, seed: int, device: torch.device, folder: Path
) -> GenerativeModel:
    """The one generator whose variations are used: --generator RUN, or --train-generator MODEL trained in `folder`
    on this seed's training split (conditional where the model can be)."""
    if cfg.generators or cfg.per_class_generators:
        raise ConfigError("--vary uses one generator: --generator RUN or --train-generator MODEL")
    run = cfg.run
    if run is None:
        conditional = get_model(cfg.trained).can_condition
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
    experiment (same settings, see claim_out) may have started or finished it. Its health warnings name the flags
    of deepgen augment (--generator-set ...)."""
    run = generator_config(cfg)
    run.data = dataclasses.replace(cfg.data, split_seed=seed)  # recorded in its config.yaml: what it was trained on
    settings = {"seed": seed, "device": cfg.device, "out": str(out), "epochs": None}
    if cfg.generator_steps is not None:
        settings["steps"] = cfg.generator_steps
    if get_model(run.model).can_condition:  # autoencoders have no such option
        settings["conditional"] = conditional
    for key, value in settings.items():
        run.set(key, value)
    done = checkpoints(out)
    if done and step_of(done[-1]) >= open_run(out).config.train.steps:
        return out
    if out.exists() and not done:  # killed before its first checkpoint: nothing to keep, unless it is still training
        with locked(out, "the generator run"):
            shutil.rmtree(out)
    result = train(run, resume=bool(done), splits=data, advice=generator_flags)
    if result.interrupted:
        raise Interrupted(
            f"interrupted while training the generator {out} at step {result.step}; the same command continues it"
        )
    return result.run


def generator_flags(options: dict[str, str]) -> str:
    """How deepgen augment passes options to the generators it trains (the health monitor's remedies):
    --generator-set augment=fixed augment_ops=translation,color, or --generator-steps N."""
    owned = [f"{OWNED[k]} {v}" for k, v in options.items() if k in OWNED]
    given = [f"{k}={v}" for k, v in options.items() if k not in OWNED]
    return " ".join(([f"--generator-set {' '.join(given)}"] if given else []) + owned)


def load_generator(run: Path, data: ImageSet, device: torch.device, conditional: bool | None) -> GenerativeModel:
    """The model of `run`, checked against the data (and to be conditional or not, unless `conditional` is None)."""
    model = open_run(run).load(device).model
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
