"""What an augmentation experiment writes: results.csv, summary.md, confusion matrices, the scarce-data curve and
report.html."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from deepgen.augmentation.curve import curves, worth_lines
from deepgen.augmentation.pool import image_hashes
from deepgen.augmentation.recipes import Plan, get_recipe
from deepgen.augmentation.summary import health_lines, results_table, summarise
from deepgen.data.imageset import ImageSet
from deepgen.io import atomic_write_text
from deepgen.report import Gallery, write_html
from deepgen.run import CONFIG, METRICS, read_jsonl
from deepgen.training.health import describe, episodes, verdict
from deepgen.viz.grids import class_grid, save_png

if TYPE_CHECKING:
    from deepgen.augmentation.config import AugmentConfig

USED_PER_CLASS = 8  # generated images shown per class, kept and rejected, for each recipe


def write_results(cfg: AugmentConfig, rows: list[dict]) -> None:
    """results.csv: one row per seed, classifier and variant (columns: every key of any row)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(k for row in rows for k in row)), restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(cfg.out / "results.csv", buffer.getvalue())


def write_outputs(
    cfg: AugmentConfig, rows: list[dict], confusions: dict, classes: list[str], checks: list[str] = ()
) -> dict[str, Path]:
    """Every output; `checks`: what the data checks found on load (see deepgen.data.quality), in the summary and the
    report."""
    write_results(cfg, rows)
    paths = {"results": cfg.out / "results.csv", "summary": cfg.out / "summary.md"}
    generators = sorted({row["generator"] for row in rows if row.get("generator")})
    used = "".join(f"\n- {g}" for g in generators)
    health = health_lines({run: episodes(read_jsonl(Path(run) / METRICS)) for run in last_grids(cfg)})
    notes = recipe_lines(cfg, rows) + [line for c in cfg.classifiers for line in worth_lines(rows, c)]
    atomic_write_text(
        paths["summary"],
        summarise(rows, cfg.seeds, health)
        + ("\n## Data checks\n\n" + "".join(f"- warning: {line}\n" for line in checks) if checks else "")
        + "".join(f"\n{line}\n" for line in notes)
        + (f"\nSynthetic images from:{used}\n" if used else ""),
    )
    from deepgen.augmentation.plots import save_confusion, save_curve, save_robust_curves

    matrices = {}
    for (setting, variant), matrix in confusions.items():
        key = f"{setting}, {variant}"
        matrices[key] = cfg.out / "confusion" / f"{file_name(key)}.png"
        save_confusion(matrix, classes, matrices[key], f"{key} ({cfg.seeds} seeds)")
    paths["confusion matrices"] = cfg.out / "confusion"
    plots = {}
    if len(cfg.limits) > 1:
        for classifier in cfg.classifiers:
            panels = {m: curves(rows, classifier, m) for m in ("accuracy", "balanced_accuracy")}
            plots[f"{classifier}: scores vs real images per class"] = path = (
                cfg.out / f"curve_{file_name(classifier)}.png"
            )
            save_curve(panels, path, f"{cfg.data.data}, {classifier}: mean ± 95% CI over {cfg.seeds} seeds")
        paths["curve"] = next(iter(plots.values()))
    for setting, (seed, by_variant) in robust_curves(rows).items():
        path = cfg.out / f"robust_curve_{file_name(setting)}.png"
        attack = f"PGD-{cfg.fit.select_steps} at eps {cfg.fit.attack.eps:g}"
        save_robust_curves(by_variant, path, f"{cfg.data.data}, {setting}, seed {seed}: validation accuracy, {attack}")
        plots[f"{setting}: validation robust accuracy while training (seed {seed})"] = paths["robust curve"] = path
    paths["provenance"] = cfg.out / "provenance"
    paths["report"] = write_report(cfg, rows, matrices | plots, [f"Data check: {c}" for c in checks] + notes)
    return paths


def file_name(text: str) -> str:
    """'small-cnn, 10 per class, gan x1+classic' -> 'small-cnn_10_per_class_gan_x1_plus_classic'."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text.replace("+", " plus ").replace(":", "-")).strip("_")


def recipe_lines(cfg: AugmentConfig, rows: list[dict]) -> list[str]:
    """What each recipe did and with which settings (fixed before the run, never chosen on the test split), the
    share of generated images the filter kept per class, and the unlabelled pool."""
    if not any(row.get("recipe") for row in rows):
        return []
    lines = [
        "Recipes (settings fixed before the run, not tuned on the test split): "
        + "; ".join(
            f"{n}: {get_recipe(n).description}" + (f" ({s})" if (s := get_recipe(n).settings(cfg.recipe)) else "")
            for n in cfg.recipe.names
        )  # fmt: skip
        + ". The judge of filter and soft is the seed's classifier trained on its real training split only "
        "(with classic augmentation when that is on)."
    ]
    kept = [row for row in rows if row.get("recipe") == "filter"]
    for setting, variant in dict.fromkeys((row.get("per_class"), row["variant"]) for row in kept):
        mine = [row for row in kept if row.get("per_class") == setting and row["variant"] == variant]
        shares = [json.loads(row["kept_per_class"]) for row in mine]
        per_class = ", ".join(f"{c} {100 * sum(s.get(c, 0) for s in shares) / len(shares):.0f}%" for c in shares[0])
        total = 100 * sum(row["kept_share"] for row in mine) / len(mine)
        lines.append(
            f"{variant} ({setting} per class): kept {total:.0f}% of the generated images; by class: {per_class}."
        )
    if cfg.unlabeled:
        lines.append(
            f"The generators also learned from up to {cfg.unlabeled} unlabelled images of the rest of the training "
            "split, labelled by the seed's real-only classifier; none has the pixels of a test image (SHA-1 checked)."
        )
    return lines


def robust_curves(rows: list[dict]) -> dict[str, tuple[int, dict[str, list[dict]]]]:
    """Per classifier and size, the first seed's validation curve under attack of every variant selected by robust
    accuracy (--select robust)."""
    found: dict[str, tuple[int, dict[str, list[dict]]]] = {}
    for row in sorted((r for r in rows if r.get("val_robust_curve")), key=lambda r: r["seed"]):
        setting = f"{row['classifier']}, {row['per_class']} per class"
        seed, by_variant = found.setdefault(setting, (row["seed"], {}))
        if row["seed"] == seed:
            by_variant[row["variant"]] = json.loads(row["val_robust_curve"])
    return found


def write_report(cfg: AugmentConfig, rows: list[dict], figures: dict[str, Path], notes: list[str]) -> Path:
    """report.html: the results table with the conclusions, the curve, confusion matrices, each generator's last
    grid (a row per class) beside its training health, and a few generated images each recipe kept and rejected."""
    amounts = (
        f"a pool of generated images drawn at {cfg.synthetic_fraction:g} of every training batch"
        if cfg.synthetic_fraction > 0
        else "synthetic-to-real ratios " + ", ".join(f"{r:g}" for r in cfg.ratios)
    )
    limits = ", ".join(map(str, cfg.limits)) if cfg.limits else cfg.data.limit_per_class
    per_class = f"at most {limits} training images per class" if limits else "all training images per class"
    intro = [
        f"{cfg.data.data}, {per_class}, {cfg.seeds} seed(s), {amounts}; synthetic images are used in the "
        "training split only.",
        "Scores are percent on the real test split, mean ± 95% CI over seeds; p-values are paired t-tests.",
        *sorted({f"Synthetic images from {row['generator']}." for row in rows if row.get("generator")}),
        *notes,
    ]
    galleries = [Gallery("Scores and confusion matrices (summed over seeds)", figures)]
    for run, path in last_grids(cfg).items():
        found = episodes(read_jsonl(Path(run) / METRICS))
        health = f"Training health: {verdict(found)}." + "".join(f" {line}" for line in describe(found))
        galleries.append(Gallery(f"Generator {run}", {"last samples (a row per class)": path}, health))
    stems = sorted({p.with_name(p.name.rsplit("_", 1)[0]) for p in (cfg.out / "samples").glob("**/seed0/*/*.png")})
    for stem in stems:
        used = {kind: stem.with_name(f"{stem.name}_{kind}.png") for kind in ("kept", "rejected")}
        where = stem.parent.relative_to(cfg.out / "samples")
        caption = f"A row per class, at most {USED_PER_CLASS} each (the first classifier's judge)."
        galleries.append(Gallery(f"Generated images of recipe {stem.name}, {where}: kept and rejected", used, caption))
    return write_html(cfg.out / "report.html", "deepgen augment", intro, results_table(rows, cfg.seeds), galleries)


def save_used(stem: Path, synthetic: ImageSet, plan: Plan) -> None:
    """A few (at most USED_PER_CLASS per class) of the generated images a recipe's plan trains on (STEM_kept.png)
    and of those it left out (STEM_rejected.png), a row per class."""
    first = plan.stages[0][1]
    kept = first.data.subset(torch.nonzero(first.generated).flatten()) if first.generated is not None else None
    chosen = set(image_hashes(kept.images)) if kept is not None else set()
    left = torch.tensor([h not in chosen for h in image_hashes(synthetic.images)], dtype=torch.bool)
    for name, images in (("kept", kept), ("rejected", synthetic.subset(torch.nonzero(left).flatten()))):
        if images is not None and len(images):
            few = torch.cat(
                [torch.nonzero(images.labels == c).flatten()[:USED_PER_CLASS] for c in range(len(images.classes))]
            )
            image = class_grid(images.images[few], images.labels[few], len(images.classes))
            save_png(image, stem.with_name(f"{stem.name}_{name}.png"))


def last_grids(cfg: AugmentConfig) -> dict[str, Path]:
    """The newest sample grid of every generator run used: given ones and those trained per seed."""
    runs = [*cfg.generator, *cfg.generators.values()]
    runs += sorted(p.parent for p in (cfg.out / "generators").glob(f"**/{CONFIG}"))
    grids = {str(run): sorted((run / "samples").glob("step_*.png")) for run in runs}
    return {name: found[-1] for name, found in grids.items() if found}
