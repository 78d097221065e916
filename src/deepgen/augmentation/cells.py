"""The experiment as a grid of cells. A cell is work that can be lost — a baseline classifier of a (size, seed), a
generator and its generated images per (size, seed, generator), a classifier trained with them — with a
deterministic key; run_cell writes its result once, atomically, to OUT/cells/KEY.json, and continuing an experiment
runs only the cells without a file. The rows of results.csv are a pure function of the cell files."""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors

from deepgen.augmentation.config import AugmentConfig
from deepgen.augmentation.outputs import save_used
from deepgen.augmentation.pool import unlabelled_pool
from deepgen.augmentation.provenance import write_provenance
from deepgen.augmentation.recipes import Judge, get_recipe
from deepgen.augmentation.scores import test_scores
from deepgen.augmentation.sources import Source, describe_generator, generator_settings, synthetic_source
from deepgen.augmentation.synthetic import cached_pool, leaked, pool_counts, read_pool
from deepgen.classify.base import Classifier
from deepgen.classify.classic import CLASSIC, classic_augmentation
from deepgen.classify.fit import TrainingSet, early_stopping, fit, predict
from deepgen.classify.zoo import build_classifier
from deepgen.data import Splits, load_data
from deepgen.data.imageset import ImageSet, split
from deepgen.device import resolve_device
from deepgen.errors import DataError
from deepgen.io import atomic_write_bytes, atomic_write_text

CELLS = "cells"
AUTO = "auto"  # --classic-kind: each seed's kind of best validation accuracy
TIMING = ("seconds", "generation_seconds")  # columns that differ between two runs of the same cell


@dataclass(frozen=True)
class Cell:
    """One piece of the experiment: `kind` baseline (a classifier on real images, `classic` or not), generator (its
    images for a seed), or variant (a classifier trained with them); `needs`: the keys of the cells it reads;
    `classic_kind`: a candidate's own classic augmentation (--classic-kind auto)."""

    kind: str
    limit: int | None
    seed: int
    classifier: str = ""
    mode: str = "none"
    classic: bool = False
    generator: str = ""
    amount: float | str = 0.0
    recipe: str = ""
    needs: tuple[str, ...] = ()
    classic_kind: str = ""

    @property
    def key(self) -> str:
        """A path below OUT/cells: '10pc/seed0/baseline/small-cnn/fgsm/classic', '.../generator/dcgan',
        '.../variant/dcgan/small-cnn/none/classic/pool@0.5/plain'."""
        where = f"{self.limit}pc/seed{self.seed}" if self.limit else f"seed{self.seed}"
        data = f"classic-{self.classic_kind}" if self.classic_kind else "classic" if self.classic else "real"
        amount = self.amount if isinstance(self.amount, str) else f"x{self.amount:g}"
        parts = {
            "baseline": [self.classifier, self.mode, data],
            "generator": [self.generator],
            "variant": [self.generator, self.classifier, self.mode, data, amount, self.recipe],
        }[self.kind]
        return "/".join([where, self.kind, *parts]).replace(":", "-")

    def path(self, out: Path) -> Path:
        return out / CELLS / f"{self.key}.json"


def at_label(mode: str) -> str:
    """How a variant's name says it was trained adversarially: '+fgsm-AT', ... (nothing for standard training)."""
    return "" if mode == "none" else f"+{mode}-AT"


def baseline_of(variant: str, mode: str) -> str:
    """What a variant without generated images is compared with: AT with the same data without AT, classic with
    real-only, real-only with nothing."""
    return variant if mode != "none" else "" if variant == "real" else "real"


def positive(cfg: AugmentConfig) -> list[float]:
    return sorted({r for r in cfg.ratios if r > 0})


def wants_generated(cfg: AugmentConfig) -> bool:
    return bool(positive(cfg)) or cfg.synthetic_fraction > 0


def pool_label(cfg: AugmentConfig, size: int) -> str:
    """How variants name a pool: 'pool@F', F the share of every batch it gives; of several --pool sizes, with its
    size: 'pool5000@F' ('pool10x@F' for 0, 10 x the real images)."""
    named = "" if len(cfg.pool) == 1 else size or "10x"
    return f"pool{named}@{cfg.synthetic_fraction:g}"


def amount_label(amount: float | str) -> str:
    return amount if isinstance(amount, str) else f"x{amount:g}"


def one_generator(cfg: AugmentConfig) -> dict[str, AugmentConfig]:
    """The experiment's generators by the name its variants give them, each as a config of that one generator: every
    --train-generator MODEL (by its name), every --generator RUN (by its folder's name), or the --generators set."""
    found = {name: dataclasses.replace(cfg, train_generator=[name], generator=[]) for name in cfg.train_generator}
    found |= {run.name: dataclasses.replace(cfg, train_generator=[], generator=[run]) for run in cfg.generator}
    if cfg.generators:
        found["per-class"] = dataclasses.replace(cfg, train_generator=[], generator=[])
    return {f"{name}-vary" if cfg.vary is not None else name: one for name, one in found.items()}


def at_limit(cfg: AugmentConfig, limit: int | None) -> AugmentConfig:
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, limit_per_class=limit))


def limits(cfg: AugmentConfig) -> list[int | None]:
    return cfg.limits or [cfg.data.limit_per_class]


def judge_cell(cfg: AugmentConfig, limit: int | None, seed: int, classifier: str) -> Cell:
    """The baseline whose classifier judges generated images for `classifier` (and labels the unlabelled pool): the
    last standard-training baseline (classic when that is on), else the first one trained."""
    standard = [(m, c) for m in cfg.adversarial for c in [False] + [True] * cfg.classic if m == "none"]
    mode, classic = standard[-1] if standard else (cfg.adversarial[0], False)
    return Cell("baseline", limit, seed, classifier, mode, classic)


def choosing(cfg: AugmentConfig) -> bool:
    return cfg.classic and cfg.classic_kind == AUTO


def stands_in(cfg: AugmentConfig, cell: Cell) -> bool:
    """Whether `cell` is a seed's classic standard-training baseline that --classic-kind auto trains once per kind."""
    return choosing(cfg) and cell.kind == "baseline" and cell.classic and cell.mode == "none" and not cell.classic_kind


def candidates(cell: Cell) -> list[Cell]:
    """The classic standard-training baseline `cell` once per classic augmentation."""
    stand_in = Cell("baseline", cell.limit, cell.seed, cell.classifier, "none", True)
    return [dataclasses.replace(stand_in, classic_kind=kind) for kind in CLASSIC]


def kind_needs(cfg: AugmentConfig, cell: Cell) -> tuple[str, ...]:
    """What a classic cell needs to know its augmentation: with --classic-kind auto, its seed's candidates."""
    return tuple(c.key for c in candidates(cell)) if choosing(cfg) and cell.classic and not cell.classic_kind else ()


def chosen(cfg: AugmentConfig, cell: Cell) -> Cell:
    """The candidate of `cell`'s seed and classifier with the best validation accuracy (the first kind on a tie)."""
    return max(candidates(cell), key=lambda c: read_cell(cfg, c)["rows"][0]["val_accuracy"])


def resolved(cfg: AugmentConfig, cell: Cell) -> Cell:
    """The cell whose files hold `cell`'s result: with --classic-kind auto, the classic baseline is the choice."""
    return chosen(cfg, cell) if stands_in(cfg, cell) else cell


def kind_of(cfg: AugmentConfig, cell: Cell) -> str:
    """The classic augmentation a classic cell trains with: its own (a candidate), --classic-kind's, or its seed's
    choice."""
    return cell.classic_kind or (chosen(cfg, cell).classic_kind if choosing(cfg) else cfg.classic_kind)


def reported(cfg: AugmentConfig, cell: Cell) -> bool:
    """Whether a finished cell's rows are the experiment's: a candidate's only as its seed's choice."""
    if not cell.classic_kind:
        return True
    return all(done(cfg, c) for c in candidates(cell)) and chosen(cfg, cell) == cell


def choice_column(cfg: AugmentConfig, cell: Cell) -> dict:
    """A chosen candidate's row names the validation accuracy of every kind it was chosen from (`classic_choice`)."""
    if not cell.classic_kind:
        return {}
    scores = {c.classic_kind: read_cell(cfg, c)["rows"][0]["val_accuracy"] for c in candidates(cell)}
    return {"classic_choice": json.dumps(scores)}


def judge_keys(cfg: AugmentConfig, limit: int | None, seed: int, classifier: str) -> tuple[str, ...]:
    judge = judge_cell(cfg, limit, seed, classifier)
    return tuple(c.key for c in candidates(judge)) if stands_in(cfg, judge) else (judge.key,)


def baselines(cfg: AugmentConfig, limit: int | None, seed: int, classifier: str) -> list[Cell]:
    """The seed's classifiers on real images per training mode, with classic augmentation and without; with
    --classic-kind auto the classic standard-training one is a candidate per kind, and the classic cells that
    need the candidates come after them."""
    cells = []
    for mode in cfg.adversarial:
        for classic in [False] + [True] * cfg.classic:
            cell = Cell("baseline", limit, seed, classifier, mode, classic)
            own = [dataclasses.replace(cell, needs=kind_needs(cfg, cell))]
            cells += candidates(cell) if stands_in(cfg, cell) else own
    return sorted(cells, key=lambda c: bool(c.needs))


def variant_settings(cfg: AugmentConfig) -> list[tuple[float | str, str, bool, str]]:
    """(ratio or pool, recipe, classic augmentation, adversarial training) of every variant with generated images."""
    modes = ([] if cfg.classic_only else [False]) + ([True] if cfg.classic else [])
    pools = [pool_label(cfg, size) for size in cfg.pool]
    amounts: list[float | str] = pools if cfg.synthetic_fraction > 0 else list(positive(cfg))
    return [
        (a, name, classic, mode)
        for mode in cfg.adversarial
        for classic in modes
        for a in amounts
        for name in cfg.recipe.names
    ]


def plan(cfg: AugmentConfig) -> list[Cell]:
    """Every cell, in an order that runs what others need (and the costly generators) early: per size and seed the
    baselines, then each generator, then the variants that use them."""
    cells = []
    judges = bool(cfg.unlabeled) or any(get_recipe(name).judged for name in cfg.recipe.names)
    for limit in limits(cfg):
        for seed in range(cfg.seeds):
            cells += [cell for classifier in cfg.classifiers for cell in baselines(cfg, limit, seed, classifier)]
            if not wants_generated(cfg):
                continue
            pool_judge = judge_keys(cfg, limit, seed, cfg.classifiers[0])
            for name in one_generator(cfg):
                cells.append(Cell("generator", limit, seed, generator=name, needs=pool_judge if cfg.unlabeled else ()))
                for classifier in cfg.classifiers:
                    needs = (cells[-1].key,) + (judge_keys(cfg, limit, seed, classifier) if judges else ())
                    variants = [
                        Cell("variant", limit, seed, classifier, mode, classic, name, amount, recipe, needs)
                        for amount, recipe, classic, mode in variant_settings(cfg)
                    ]
                    cells += [dataclasses.replace(c, needs=c.needs + kind_needs(cfg, c)) for c in variants]
    return cells


def done(cfg: AugmentConfig, cell: Cell) -> bool:
    return cell.path(cfg.out).is_file()


def read_cell(cfg: AugmentConfig, cell: Cell) -> dict:
    return json.loads(cell.path(cfg.out).read_text())


def run_cell(cfg: AugmentConfig, cell: Cell) -> str:
    """Run `cell` (the cells it needs are done) and write its result; return its key. Seeded: the same cell gives
    the same result in any process, in any order."""
    start = time.perf_counter()
    part = at_limit(cfg, cell.limit)
    device = resolve_device(cfg.device)
    result = RUNS[cell.kind](part, cell, device)
    for row in result.get("rows", []):
        row["seconds"] = round(time.perf_counter() - start, 3)
    atomic_write_text(cell.path(cfg.out), json.dumps(result) + "\n")
    return cell.key


def seed_split(cfg: AugmentConfig, seed: int) -> tuple[Splits, ImageSet, ImageSet]:
    """The seed's splits (test), and its training split divided into training and validation images."""
    splits = load_data(dataclasses.replace(cfg.data, split_seed=seed))
    if len(splits.train.classes) < 2:
        raise DataError(
            f"{cfg.data.data} holds one class ({', '.join(splits.train.classes)}); a classifier needs at least two "
            "to tell apart, or every variant scores 100 %: give a folder with a sub-folder per class"
        )
    train_set, val = split(splits.train, cfg.val_fraction, seed, f"the training split of {cfg.data.data}")
    return splits, train_set, val


def run_baseline(cfg: AugmentConfig, cell: Cell, device: torch.device) -> dict:
    """A classifier on the seed's real training split (classic augmentation or not, with the cell's training
    objective); the judge of generated images also keeps its weights."""
    splits, train_set, val = seed_split(cfg, cell.seed)
    write_provenance(cfg.out / "provenance" / f"{cfg.part(cell.seed)}.csv", train_set, val, splits.test, {})
    model, info = train_stages(cfg, cell, [("train", TrainingSet(train_set))], val, device)
    if dataclasses.replace(cell, classic_kind="", needs=()) == judge_cell(cfg, cell.limit, cell.seed, cell.classifier):
        save_weights(model, cell.path(cfg.out).with_suffix(".safetensors"))
    row = {"ratio": 0.0, "generator": "", "real_train": len(train_set), "synthetic": 0}
    return scored(cfg, cell, model, splits, row | info)


def run_generator(cfg: AugmentConfig, cell: Cell, device: torch.device) -> dict:
    """The seed's generator (trained on its training split, with --unlabeled also on the pool the judge labels) and
    every set of images its variants use, saved in OUT/pools with their provenance."""
    one = one_generator(cfg)[cell.generator]
    splits, train_set, val = seed_split(cfg, cell.seed)
    if "pseudo" in cfg.recipe.names and leaked(train_set, splits.test):
        raise DataError(
            f"seed {cell.seed}: the judge that gives pseudo-labels was trained on {leaked(train_set, splits.test)} "
            "image(s) whose pixels equal test images; remove the duplicates (deepgen inspect --data ...)"
        )
    pool_judge = judge_cell(cfg, cell.limit, cell.seed, cfg.classifiers[0])
    judge = load_judge(cfg, pool_judge, train_set) if cfg.unlabeled else None
    pool = unlabelled_pool(cfg, splits, train_set, val, judge, cell.seed)
    source = synthetic_source(one, concat(train_set, pool), val, cell.seed, device, cell.generator)
    described, settings = (
        describe_generator(one, cell.seed, cell.generator),
        generator_settings(one, cell.seed, cell.generator),
    )
    stem = cfg.out / "provenance" / f"{cfg.part(cell.seed)}-{cell.generator}"
    if settings:
        atomic_write_text(stem.with_name(stem.name + "-generator.json"), settings + "\n")
    start = time.perf_counter()  # drawing the pool (or ratios) alone: 10x vs 100x the real images is a measured choice
    synthetic = generated_sets(cfg, source, train_set.class_counts(), cell.seed, described, cell.generator)
    seconds = round(time.perf_counter() - start, 3)
    write_provenance(stem.with_suffix(".csv"), train_set, val, splits.test, synthetic, pool)
    made = {amount_label(a): len(images) for a, images in synthetic.items()}
    return {"generator": described, "generator_settings": settings, "generation_seconds": seconds, "generated": made}


def run_variant(cfg: AugmentConfig, cell: Cell, device: torch.device) -> dict:
    """A classifier trained with the generator's images by the cell's recipe (its judge: the seed's real-only
    classifier), tested on the real test split."""
    splits, train_set, val = seed_split(cfg, cell.seed)
    made = read_cell(cfg, Cell("generator", cell.limit, cell.seed, generator=cell.generator))
    synthetic = read_generated(cfg, cell)
    recipe = get_recipe(cell.recipe)
    judge = (
        load_judge(cfg, judge_cell(cfg, cell.limit, cell.seed, cell.classifier), train_set) if recipe.judged else None
    )
    made_plan = recipe.plan(train_set, synthetic, judge, cfg.recipe)
    label = amount_label(cell.amount)
    if cell == shown(cfg, cell):  # the kept and rejected images are saved for one training setting
        save_used(cfg.out / "samples" / cfg.part(cell.seed) / cell.generator / f"{cell.recipe}_{label}", synthetic,
                  made_plan)  # fmt: skip
    stages = [(stage, with_fraction(data, cfg.synthetic_fraction)) for stage, data in made_plan.stages]
    model, info = train_stages(cfg, cell, stages, val, device)
    row = {"ratio": len(synthetic) / len(train_set), "recipe": cell.recipe}
    row |= {"recipe_settings": recipe.settings(cfg.recipe), "generator": made["generator"]}
    row |= {"generator_settings": made["generator_settings"], "real_train": len(train_set)}
    row |= {"generation_seconds": made.get("generation_seconds", "")}  # the generator cell's, for all its images
    row |= {"synthetic": made_plan.stages[0][1].n_generated, "synthetic_fraction": cfg.synthetic_fraction}
    return scored(cfg, cell, model, splits, row | made_plan.info | info)


RUNS = {"baseline": run_baseline, "generator": run_generator, "variant": run_variant}


def variant_name(cell: Cell) -> str:
    """'real', 'classic+fgsm-AT', 'dcgan pool@0.5+classic', 'diffusion x1 filter+classic+pgd-AT', ..."""
    data = "classic" if cell.classic else "real"
    if cell.kind == "baseline":
        return data + at_label(cell.mode)
    recipe = "" if cell.recipe == "plain" else f" {cell.recipe}"
    return f"{cell.generator} {amount_label(cell.amount)}{recipe}" + "+classic" * cell.classic + at_label(cell.mode)


def row_head(cfg: AugmentConfig, cell: Cell) -> dict:
    """The columns of a cell's row that its place in the grid gives (a part of the cell at cfg's limit)."""
    data = "classic" if cell.classic else "real"
    baseline = baseline_of(data, cell.mode) if cell.kind == "baseline" else data + at_label(cell.mode)
    head = {"seed": cell.seed, "per_class": cfg.data.limit_per_class or "all", "classifier": cell.classifier}
    head |= {"variant": variant_name(cell), "classic": cell.classic, "classic_kind": cfg.classic_kind * cell.classic}
    return head | {"adversarial": cell.mode, "baseline": baseline}


def shown(cfg: AugmentConfig, cell: Cell) -> Cell:
    """The variant of `cell`'s generator, seed and recipe whose kept and rejected images the report shows: the first
    classifier's, in the first training setting."""
    amount, _, classic, mode = variant_settings(cfg)[0]
    return dataclasses.replace(cell, classifier=cfg.classifiers[0], mode=mode, classic=classic, amount=amount)


def scored(cfg: AugmentConfig, cell: Cell, model: Classifier, splits: Splits, row: dict) -> dict:
    """The cell's result: its row of results.csv (and its confusion matrix, the classes and the data checks)."""
    scores, confusion = test_scores(model, splits.test, model_device(model), cfg)
    return {
        "rows": [row_head(cfg, cell) | row | scores],
        "confusion": confusion.tolist(),
        "classes": splits.test.classes,
        "checks": list(splits.checks),
    }


def model_device(model: Classifier) -> torch.device:
    return next(model.parameters()).device


def train_stages(
    cfg: AugmentConfig, cell: Cell, stages: list[tuple[str, TrainingSet]], val: ImageSet, device: torch.device
) -> tuple[Classifier, dict]:
    """A new classifier (seeded) trained on each stage's data in turn (with the cell's adversarial objective), with
    early stopping on the real `val` (by robust accuracy with --select robust and adversarial training); the last
    stage's figures, and every stage's images (real and generated) and steps as JSON (`stages`)."""
    model = new_classifier(cfg, cell.classifier, stages[0][1].data, cell.seed)
    kind = kind_of(cfg, cell) if cell.classic else ""
    augment = classic_augmentation(kind, cfg.flip) if cell.classic else None
    history, fit_cfg = [], dataclasses.replace(cfg.fit, adversarial=cell.mode)
    for name, data in stages:
        early = early_stopping(val, fit_cfg)
        info = fit(model, data, fit_cfg, device, cell.seed, early, augment)
        figures = {k: v for k, v in info.items() if k != "val_robust_curve"}
        history.append({"stage": name, "real": len(data) - data.n_generated, "generated": data.n_generated} | figures)
    return model, info | {"stages": json.dumps(history), "classic_kind": kind}


def new_classifier(cfg: AugmentConfig, classifier: str, data: ImageSet, seed: int) -> Classifier:
    """A new classifier for `data`, seeded (the same start for every variant of a seed)."""
    torch.manual_seed(seed)
    return build_classifier(
        classifier, data.shape, len(data.classes), cfg.classifier_weights, cfg.classifier_size, cfg.pretrained
    )


def save_weights(model: Classifier, path: Path) -> None:
    atomic_write_bytes(
        path, save_safetensors({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    )


def load_judge(cfg: AugmentConfig, cell: Cell, train_set: ImageSet) -> Judge:
    """The judge `cell` trained (its saved weights), as a function from uint8 images to class probabilities."""
    model = new_classifier(cfg, cell.classifier, train_set, cell.seed)
    model.load_state_dict(load_file(resolved(cfg, cell).path(cfg.out).with_suffix(".safetensors")))
    return functools.partial(predict, model.eval())


def generated_sets(
    cfg: AugmentConfig, source: Source, counts: list[int], seed: int, generator: str, name: str
) -> dict[float | str, ImageSet]:
    """The seed's generated images: per --ratio (ratio x the real images per class), or the pool drawn at
    --synthetic-fraction of every batch (a pool per --pool size), each cached in OUT/pools with its provenance."""
    if cfg.synthetic_fraction > 0:
        wanted = {
            pool_label(cfg, size): (pool_counts(counts, size or 10 * sum(counts)), 1000 * seed) for size in cfg.pool
        }
    else:
        wanted = {r: ([round(r * c) for c in counts], 1000 * seed + i) for i, r in enumerate(positive(cfg))}
    return {
        amount: cached_pool(pool_path(cfg, seed, name, amount), source, n, s, generator)
        for amount, (n, s) in wanted.items()
    }


def pool_path(cfg: AugmentConfig, seed: int, generator: str, amount: float | str) -> Path:
    return cfg.out / "pools" / cfg.part(seed) / f"{generator}-{amount_label(amount)}.safetensors"


def read_generated(cfg: AugmentConfig, cell: Cell) -> ImageSet:
    path = pool_path(cfg, cell.seed, cell.generator, cell.amount)
    found = read_pool(path)
    if found is None:
        maker = Cell("generator", cell.limit, cell.seed, generator=cell.generator).path(cfg.out)
        raise DataError(f"{path} is missing or damaged: delete {maker} and run the same command to make it again")
    return found[0]


def with_fraction(data: TrainingSet, fraction: float) -> TrainingSet:
    """`data` drawn at `fraction` generated images per batch when it holds any (and fraction > 0)."""
    return dataclasses.replace(data, fraction=fraction) if fraction > 0 and data.n_generated else data


def concat(a: ImageSet, b: ImageSet) -> ImageSet:
    return ImageSet(torch.cat([a.images, b.images]), torch.cat([a.labels, b.labels]), a.classes)
