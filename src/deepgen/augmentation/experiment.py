"""The augmentation experiment: for each seed, a stratified train/val/test split of a (scarce) dataset;
generated images are added to the training split only (in each synthetic-to-real ratio, or as a pool drawn at a
fixed share of every batch); classifiers are trained with early stopping on the real validation split and tested on
the real held-out split, clean and under attack. The work is a grid of cells (see cells.py), run by runner.py."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from deepgen.augmentation.cells import (
    AUTO,
    Cell,
    choice_column,
    done,
    limits,
    one_generator,
    plan,
    positive,
    read_cell,
    reported,
    row_head,
    wants_generated,
)
from deepgen.augmentation.config import LEFTOVERS, RECORD, RERUNNABLE, AugmentConfig
from deepgen.augmentation.outputs import write_outputs, write_results
from deepgen.augmentation.pool import image_hashes
from deepgen.augmentation.recipes import get_recipe
from deepgen.augmentation.robustness import Attack, column_settings
from deepgen.augmentation.runner import run_missing
from deepgen.augmentation.sources import generator_config, given_options
from deepgen.augmentation.stats import pack
from deepgen.config import validate
from deepgen.data import load_data
from deepgen.errors import ConfigError, DeepgenError
from deepgen.limits import image_bytes, need_memory, need_steps
from deepgen.models.base import GenerativeModel
from deepgen.registry import get_model
from deepgen.registry import models as registry_models
from deepgen.run import open_run
from deepgen.training.runlock import claim, locked, mark_failed


def run_experiment(cfg: AugmentConfig, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Run every cell that has no result yet; write results.csv, summary.md, report.html, confusion matrices and
    the provenance of every image from the cell files; return the paths written. Before anything trains, the
    outputs are built once from a constructed result set of the experiment's shape. --out belongs to one experiment
    (recorded in augment.json, locked while it runs): running it again continues it, with other settings is
    refused."""
    check(cfg)
    cells = plan(cfg)
    rehearse(cfg, cells)
    if cfg.dry_run:
        run_missing(cfg, cells, log)
        return {}
    with locked(cfg.out, "--out"):
        claim_out(cfg)
        try:
            missing = run_missing(cfg, cells, log)
            found = collect(cfg, cells)
            write_results(cfg, found.rows)  # a stopped experiment keeps the cells it finished
            if missing:
                raise DeepgenError(
                    f"{len(missing)} of {len(cells)} cells did not finish (e.g. {missing[0].key}); the same command "
                    "runs them"
                )
            return write_outputs(cfg, found.rows, found.confusions, found.classes, found.checks)
        except Exception:  # an interrupted one (KeyboardInterrupt, Interrupted) is continued by the same command
            mark_failed(cfg.out, RECORD)
            raise


@dataclasses.dataclass
class Found:
    """What the finished cells hold: the rows in the grid's order, the confusion matrices summed over seeds (per
    setting and variant), the classes and the data checks' findings."""

    rows: list[dict] = dataclasses.field(default_factory=list)
    confusions: dict[tuple[str, str], np.ndarray] = dataclasses.field(default_factory=dict)
    classes: list[str] = dataclasses.field(default_factory=list)
    checks: list[str] = dataclasses.field(default_factory=list)


def collect(cfg: AugmentConfig, cells: list[Cell]) -> Found:
    found = Found()
    for cell in cells:
        if not done(cfg, cell) or not reported(cfg, cell):
            continue
        result = read_cell(cfg, cell)
        for row in result.get("rows", []):
            found.rows.append(row | choice_column(cfg, cell))
            key = (setting_label(cfg, row["classifier"], row["per_class"]), row["variant"])
            found.confusions[key] = found.confusions.get(key, 0) + np.array(result["confusion"])
            found.classes = result["classes"]
        found.checks += [c for c in result.get("checks", []) if c not in found.checks]
    return found


def setting_label(cfg: AugmentConfig, classifier: str, per_class: int | str) -> str:
    return f"{classifier}, {per_class} per class" if cfg.limits else classifier


def rehearse(cfg: AugmentConfig, cells: list[Cell]) -> None:
    """Build every output (results.csv, summary.md, report.html, the plots) from a constructed result set of the
    experiment's shape — each row a cell would write, with made-up scores, one of them a classifier that learned
    nothing — in a temporary folder: an experiment whose summary cannot be built fails here, before it trains."""
    robust = column_settings(Attack(kind=cfg.attack), cfg.eps, cfg.noise, cfg.blur)
    keys = ["accuracy", "balanced_accuracy", "macro_f1", *robust]
    g = np.random.default_rng(0)
    found = Found(classes=["a", "b"])
    first = cells[0].classic_kind  # one candidate of each seed, as collect reports its choice
    shaped = [c for c in cells if c.kind != "generator" and c.classic_kind in ("", first)]
    for i, cell in enumerate(shaped):
        part = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, limit_per_class=cell.limit))
        row = row_head(part, cell) | {k: float(g.uniform(0.4, 0.9)) for k in keys}
        answers = {k: pack(g.random(20) < row[k]) for k in keys[3:]}
        row |= {"correct": pack(g.random(20) < row["accuracy"]), "robust_correct": json.dumps(answers)}
        row |= {"robust_images": 20, "robust_attack": "PGD", "val_accuracy": row["accuracy"], "per_class_f1": "{}"}
        row |= {"learned_nothing": "predicts one class for every test image" if i == 1 else "", "synthetic": 0}
        if cell.mode != "none" and cfg.fit.select == "robust":
            row |= {"val_robust_curve": json.dumps([{"step": s, "robust": 0.5, "clean": 0.8} for s in (50, 100)])}
            row |= {"val_robust_best": 0.6, "val_robust_last": 0.5, "val_robust_gap": 0.1}
        if cell.classic_kind:
            row |= {"classic_kind": cell.classic_kind, "classic_choice": json.dumps({cell.classic_kind: 0.5})}
        if cell.kind == "variant":
            row |= {"recipe": cell.recipe, "generator": cell.generator, "synthetic": 10, "kept_share": 0.5}
            row |= {"kept_per_class": json.dumps({"a": 0.5, "b": 0.5})}
        found.rows.append(row)
    first = found.rows[0]  # one confusion matrix is drawn like any other
    found.confusions[(setting_label(cfg, first["classifier"], first["per_class"]), first["variant"])] = np.eye(
        2, dtype=int
    )
    with tempfile.TemporaryDirectory() as folder:
        try:
            write_outputs(dataclasses.replace(cfg, out=Path(folder)), found.rows, found.confusions, found.classes)
        except Exception as e:
            raise ConfigError(
                f"the summary of this experiment cannot be built ({type(e).__name__}: {e}); nothing was trained. "
                "Please report this combination of options"
            ) from e


def check(cfg: AugmentConfig) -> None:
    sources = len(cfg.generator) + bool(cfg.generators) + len(cfg.train_generator)
    if wants_generated(cfg) and not sources:
        raise ConfigError("give --generator RUN ..., --generators CLASS=RUN ... or --train-generator MODEL ...")
    if sources and not wants_generated(cfg):
        raise ConfigError(
            "no variant uses generated images (--ratios has no ratio above 0 and --synthetic-fraction is 0): drop "
            "the generators, or ask for a ratio above 0 or a --synthetic-fraction"
        )
    names = [*cfg.train_generator, *(run.name for run in cfg.generator)]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"two generators go by the name {twice[0]}: give each model once, and runs in folders of "
                          "different names")  # fmt: skip
    for flag, value, default, used, why in unused(cfg):
        if value != default and not used:
            shown = " ".join(map(str, value)) if isinstance(value, list) else value
            raise ConfigError(f"{flag} {shown}: it cannot take effect here ({why}); drop it")
    if len(set(cfg.pool)) < len(cfg.pool):
        raise ConfigError(f"--pool {' '.join(map(str, cfg.pool))}: give each size once")
    if cfg.jobs > 1 and cfg.launcher != "local":
        raise ConfigError(f"--jobs {cfg.jobs} sizes the local pool; --launcher {cfg.launcher} runs each cell as a task")
    validate(cfg)  # the bounds of each option (the command line checks them as it reads them)
    for name in cfg.recipe.names:
        get_recipe(name)
    if cfg.classic_only and not cfg.classic:
        raise ConfigError("--classic-only puts generated images on top of classic augmentation; drop --no-classic")
    if cfg.classic and cfg.classic_kind == AUTO and "none" not in cfg.adversarial:
        raise ConfigError(
            "--classic-kind auto chooses each seed's kind on the validation accuracy of standard training: add none "
            "to --adversarial, or name the kind"
        )
    if cfg.unlabeled and (cfg.vary is not None or cfg.generator or cfg.generators):
        raise ConfigError("--unlabeled feeds a generator trained here: use it with --train-generator MODEL")
    trained = [m for m in cfg.adversarial if m in ("pgd", "trades")]
    if trained and cfg.eps and cfg.attack_steps <= cfg.fit.attack.steps:
        raise ConfigError(
            f"--attack-steps {cfg.attack_steps}: the evaluation attack must be stronger than {trained[0]} training's "
            f"{cfg.fit.attack.steps} steps (--adv-steps)"
        )
    need_steps(cfg.fit.max_steps * len(plan(cfg)), f"--max-steps {cfg.fit.max_steps} for every classifier", "lower it")
    if cfg.attack != "pgd" and importlib.util.find_spec("art") is None:
        raise ConfigError(
            f"--attack {cfg.attack} uses adversarial-robustness-toolbox, which is not installed: "
            "pip install 'deepgen[robust]', or drop --attack"
        )
    if wants_generated(cfg):
        for one in one_generator(cfg).values():
            check_generators(one)
        check_unlabeled(cfg)
        check_sizes(cfg)


def check_sizes(cfg: AugmentConfig) -> None:
    """Refuse, before anything is made, generated images that could not fit in memory (--pool N, --ratios R x the
    real training images of the largest --limit-per-class): an estimate of the pool and its copies."""
    largest = None if None in limits(cfg) else max(limits(cfg))
    train = load_data(dataclasses.replace(cfg.data, limit_per_class=largest)).train
    real = round(len(train) * (1 - cfg.val_fraction))
    if cfg.synthetic_fraction > 0:
        n = sum(size or 10 * real for size in cfg.pool)  # a generator cell holds every pool
        what, remedy = f"--pool {' '.join(str(size or 10 * real) for size in cfg.pool)}", "lower --pool"
    else:
        n, what, remedy = round(max(positive(cfg)) * real), f"--ratios {max(positive(cfg)):g}", "lower --ratios"
    need_memory(3 * image_bytes(n, train.shape), f"{what} ({n} generated images of {train.shape})", remedy)


# Options that take effect only where another says so: (flag, its value, its default, whether it can take effect, why
# not). An option changed from its default that cannot take effect is refused, not ignored.
def unused(cfg: AugmentConfig) -> list[tuple[str, object, object, bool, str]]:
    default, fit = AugmentConfig(cfg.data, cfg.out), cfg.fit
    trained = [m for m in cfg.adversarial if m != "none"]
    return [
        ("--pool", cfg.pool, [0], cfg.synthetic_fraction > 0, "it sizes the pool of --synthetic-fraction"),
        ("--ratios", cfg.ratios, default.ratios, cfg.synthetic_fraction == 0 or not positive(cfg),
         "--synthetic-fraction draws a pool instead"),
        ("--classic-kind", cfg.classic_kind, "affine", cfg.classic, "--no-classic trains no classic variant"),
        ("--flip", cfg.flip, False, cfg.classic, "--no-classic trains no classic variant"),
        ("--mix-alpha", fit.mix_alpha, 1.0, fit.mix != "none", "it is mixup/CutMix's (--mix)"),
        ("--adv-eps", fit.attack.eps, 0.1, bool(trained), "--adversarial none trains no classifier adversarially"),
        ("--adv-step-size", fit.attack.step_size, None, bool(trained), "--adversarial none trains no classifier so"),
        ("--adv-steps", fit.attack.steps, 7, bool({"pgd", "trades"} & set(trained)), "only pgd and trades take steps"),
        ("--trades-beta", fit.attack.beta, 6.0, "trades" in trained, "it is TRADES' (--adversarial trades)"),
        ("--attack", cfg.attack, "pgd", bool(cfg.eps), "--eps gives it no budget"),
        ("--select", fit.select, "clean", bool(trained), "--adversarial none trains no classifier adversarially"),
        ("--select-steps", fit.select_steps, 10, fit.select == "robust", "it is --select robust's"),
        ("--select-n", fit.select_images, 500, fit.select == "robust", "it is --select robust's"),
        ("--pseudo", cfg.recipe.pseudo, "hard", "pseudo" in cfg.recipe.names, "it is --recipes pseudo's"),
        ("--pseudo-tau", cfg.recipe.pseudo_tau, 0.0, "pseudo" in cfg.recipe.names, "it is --recipes pseudo's"),
        ("--tau", cfg.recipe.tau, 0.9, "filter" in cfg.recipe.names, "it is --recipes filter's"),
        ("--soft", cfg.recipe.soft, "judge", "soft" in cfg.recipe.names, "it is --recipes soft's"),
        ("--synthetic-weight", cfg.recipe.synthetic_weight, 0.5, "weight" in cfg.recipe.names, "--recipes weight's"),
    ]  # fmt: skip


def check_generators(cfg: AugmentConfig) -> None:
    """Refuse, before anything trains, a generator (of a config of one) that cannot serve: one that cannot draw a
    requested class (or with --vary, cannot vary images), and generator options that do not fit the model
    (generator_config)."""
    if cfg.trained is not None:
        generator_config(cfg)
    elif cfg.generator_set or cfg.generator_config is not None:
        raise ConfigError(
            "--generator-set and --generator-config configure generators trained here: use --train-generator"
        )
    if cfg.vary is not None and (cfg.generators or cfg.per_class_generators):
        raise ConfigError("--vary uses one generator: --generator RUN or --train-generator MODEL")
    if cfg.trained is not None:
        conditional = not cfg.per_class_generators and cfg.vary is None
        check_family(cfg, get_model(cfg.trained), f"--train-generator {cfg.trained}", conditional)
    for run in [cfg.run] if cfg.run is not None else list(cfg.generators.values()):
        recorded = open_run(run).config
        family, what = get_model(recorded.model), f"{run} (a {recorded.model})"
        if cfg.vary is None and family.is_conditional(recorded.model_config) != (cfg.run is not None):
            kind = "a conditional generator (--conditional)" if cfg.run is not None else "unconditional"
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
    options = {name: given_options(one) for name, one in one_generator(cfg).items() if one.trained}
    claim(cfg.out, RECORD, settings | {"generator_options": options}, "an experiment", LEFTOVERS)
