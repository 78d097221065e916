"""What an augmentation experiment writes: results.csv, summary.md, confusion matrices, the scarce-data curve and
report.html."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from deepgen.augmentation.curve import curves, worth_lines
from deepgen.augmentation.recipes import get_recipe
from deepgen.augmentation.summary import health_lines, results_table, summarise
from deepgen.io import atomic_write_text
from deepgen.report import Gallery, write_html
from deepgen.run import CONFIG, warnings_of

if TYPE_CHECKING:
    from deepgen.augmentation.config import AugmentConfig


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
    health = health_lines({run: warnings_of(Path(run)) for run in last_grids(cfg)})
    notes = recipe_lines(cfg, rows) + [line for c in cfg.classifiers for line in worth_lines(rows, c)]
    atomic_write_text(
        paths["summary"],
        summarise(rows, cfg.seeds, health)
        + ("\n## Data checks\n\n" + "".join(f"- warning: {line}\n" for line in checks) if checks else "")
        + "".join(f"\n{line}\n" for line in notes)
        + (f"\nSynthetic images from:{used}\n" if used else ""),
    )
    from deepgen.augmentation.plots import save_confusion, save_curve

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
    paths["provenance"] = cfg.out / "provenance"
    paths["report"] = write_report(cfg, rows, matrices | plots, health, [f"Data check: {c}" for c in checks] + notes)
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


def write_report(
    cfg: AugmentConfig, rows: list[dict], figures: dict[str, Path], health: list[str], notes: list[str]
) -> Path:
    """report.html: the results table with the conclusions, the curve, confusion matrices, the generators' samples."""
    ratios = ", ".join(f"{r:g}" for r in cfg.ratios)
    limits = ", ".join(map(str, cfg.limits)) if cfg.limits else cfg.data.limit_per_class or "all"
    intro = [
        f"{cfg.data.data}, at most {limits} training images per class, {cfg.seeds} "
        f"seed(s), synthetic-to-real ratios {ratios}; synthetic images are added to the training split only.",
        "Scores are percent on the real test split, mean ± 95% CI over seeds; p-values are paired t-tests.",
        *sorted({f"Synthetic images from {row['generator']}." for row in rows if row.get("generator")}),
        *[f"Generator health warning: {line}" for line in health],
        *notes,
    ]
    galleries = [
        Gallery("Scores and confusion matrices (summed over seeds)", figures),
        Gallery("Generated samples (each generator's last grid)", last_grids(cfg)),
    ]
    return write_html(cfg.out / "report.html", "deepgen augment", intro, results_table(rows, cfg.seeds), galleries)


def last_grids(cfg: AugmentConfig) -> dict[str, Path]:
    """The newest sample grid of every generator run used: given ones and those trained per seed."""
    runs = [cfg.generator] if cfg.generator is not None else list(cfg.generators.values())
    runs += sorted(p.parent for p in (cfg.out / "generators").glob(f"**/{CONFIG}"))
    grids = {str(run): sorted((run / "samples").glob("step_*.png")) for run in runs}
    return {name: found[-1] for name, found in grids.items() if found}
