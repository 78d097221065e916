"""Do generated images beat classic augmentation on scarce data? The must-show figures of the recipes issue.

mnist10k, a conditional DCGAN trained on each seed's training split, the small CNN trained on real images only,
with classic augmentation, and with generated images (one per real image) by a recipe on top of classic
augmentation. Every recipe runs at the first --limits size; the two with the best mean *validation* accuracy there
(the held-out part of the training split: the test split chooses nothing) run at the other sizes and on the curve
(--curve-limits, fewer seeds). The recipes' settings are fixed before the run (tau 0.9, the judge's soft labels),
never tuned. Each size is its own `deepgen augment` experiment in OUT/NNpc whose results.csv grows seed by seed, so
a stopped run keeps what finished. From all of them:

- OUT/table.md: per --limits size, real, classic and the two recipes with the best mean validation accuracy, each
  against classic alone: paired differences in test accuracy and balanced accuracy, 95% CIs, paired t-test p
  (Holm over the two);
- OUT/curve.png and the "worth about k real images per class" lines (real-only / classic curves interpolated).

    flock /tmp/deepgen-bench-b.lock env OMP_NUM_THREADS=1 python bench/recipes.py --out /work/runs-16/recipes
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch

from deepgen.augmentation.config import AugmentConfig, RecipeConfig
from deepgen.augmentation.curve import curves, worth_lines
from deepgen.augmentation.experiment import run_experiment
from deepgen.augmentation.plots import save_curve
from deepgen.augmentation.stats import mean_ci, paired_difference
from deepgen.augmentation.summary import IDENTICAL, fmt, holm
from deepgen.classify.config import FitConfig
from deepgen.config import DataConfig

SCORES = ("accuracy", "balanced_accuracy")
NUMBERS = {"seed": int, "per_class": int, "accuracy": float, "balanced_accuracy": float, "val_accuracy": float}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--limits",
        type=int,
        nargs="+",
        default=[10, 50],
        help="images per class: all recipes at the first, then the best two",
    )
    parser.add_argument(
        "--curve-limits", type=int, nargs="+", default=[5, 20, 100], help="then these, with the best two recipes"
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--curve-seeds", type=int, default=2, help="seeds at the curve's other limits")
    parser.add_argument("--data", default="mnist10k")
    parser.add_argument("--recipes", nargs="+", default=["plain", "filter", "soft", "two-stage"])
    parser.add_argument("--generator", default="dcgan")
    parser.add_argument("--generator-steps", type=int, default=500)
    parser.add_argument("--ratio", type=float, default=1.0, help="generated images per real one")
    parser.add_argument("--max-steps", type=int, default=300, help="classifier steps (early stopping on val)")
    parser.add_argument("--eval-every", type=int, default=25, help="classifier steps between validation checks")
    parser.add_argument("--patience", type=int, default=4, help="checks without a better validation accuracy")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-recipes"))
    parser.add_argument("--report-only", action="store_true", help="only the table and curve of finished limits")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.report_only:
        return report(args)
    first, *others = args.limits
    experiment(args, first, args.recipes, args.seeds)
    best = best_recipes(read(args.out, [first]))  # chosen on validation accuracy, never on the test split
    for n in others:
        experiment(args, n, best, args.seeds)
    for n in args.curve_limits:
        experiment(args, n, best, args.curve_seeds)


def experiment(args: argparse.Namespace, n: int, recipes: list[str], seeds: int) -> None:
    """The augment experiment at n images per class (skipped when finished), then the table and curve so far."""
    cfg = AugmentConfig(
        data=DataConfig(data=args.data, limit_per_class=n),
        out=args.out / f"{n}pc",
        ratios=[args.ratio],
        seeds=seeds,
        train_generator=[args.generator],
        generator_steps=args.generator_steps,
        classic_only=True,
        eps=[],
        noise=[],
        blur=[],
        fit=FitConfig(max_steps=args.max_steps, eval_every=args.eval_every, patience=args.patience),
        recipe=RecipeConfig(names=recipes),
        device="cpu",
    )
    cfg.out.mkdir(parents=True, exist_ok=True)
    if not (cfg.out / "summary.md").is_file():  # results.csv grows seed by seed; summary.md is written at the end
        run_experiment(cfg)
    report(args)


def best_recipes(rows: list[dict]) -> list[str]:
    """The two recipes with the best mean validation accuracy over the table's limits and seeds."""
    recipes = {r["recipe"] for r in rows if r["recipe"]}
    return sorted(recipes, key=lambda name: -mean_ci([r["val_accuracy"] for r in rows if r["recipe"] == name])[0])[:2]


def read(out: Path, limits: list[int] | None = None) -> list[dict]:
    rows = []
    for path in sorted(out.glob("*pc/results.csv")):
        if limits is not None and int(path.parent.name[:-2]) not in limits:
            continue
        for row in csv.DictReader(path.open()):
            rows.append(row | {k: kind(row[k]) for k, kind in NUMBERS.items()})
    return rows


def report(args: argparse.Namespace) -> None:
    """table.md, curve.png and the worth lines from every finished limit."""
    rows = read(args.out)
    lines = [f"# Generated images vs classic augmentation: {args.data}, small CNN", ""]
    for n in args.limits:
        mine = [r for r in rows if r["per_class"] == n]
        if mine:
            lines += table(mine, n)
    if len({r["per_class"] for r in rows}) > 1:
        best = best_recipes([r for r in rows if r["per_class"] == args.limits[0]])
        rows = [r for r in rows if r["recipe"] in ("", *best)]
        panels = {m: curves(rows, "small-cnn", m) for m in SCORES}
        title = f"{args.data}, small CNN: mean ± 95% CI over {args.curve_seeds}-{args.seeds} seeds"
        save_curve(panels, args.out / "curve.png", title)
        lines += [f"## What the generated images are worth (recipes {', '.join(best)}: best on validation)", ""]
        lines += [f"- {w}" for w in worth_lines(rows, "small-cnn")]
        lines += ["", f"Curve: {args.out / 'curve.png'}", ""]
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def table(rows: list[dict], n: int) -> list[str]:
    by = {v: sorted((r for r in rows if r["variant"] == v), key=lambda r: r["seed"]) for v in variants(rows)}
    recipes = [v for v in by if v not in ("real", "classic")]
    best = sorted(recipes, key=lambda v: -mean_ci([r["val_accuracy"] for r in by[v]])[0])[:2]
    tests = {
        v: {m: paired_difference([r[m] for r in by[v]], [r[m] for r in by["classic"]]) for m in SCORES} for v in best
    }
    adjusted = dict(zip(best, holm([tests[v]["accuracy"][2] for v in best])))
    out = [
        f"## {n} real images per class ({len(by['real'])} seeds)",
        "",
        "Best two recipes chosen by mean validation accuracy (of all: "
        + ", ".join(f"{v} {100 * mean_ci([r['val_accuracy'] for r in by[v]])[0]:.2f}" for v in recipes)
        + ").",
        "",
        "| variant | accuracy | balanced acc. | Δ acc. vs classic | p (paired t) | p (Holm) | Δ bal. acc. vs classic |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v in ["real", "classic", *best]:
        cells = [fmt(*mean_ci([r[m] for r in by[v]])) for m in ("accuracy", "balanced_accuracy")]
        if v in tests:
            d, half, p = tests[v]["accuracy"]
            same = [r["accuracy"] for r in by[v]] == [r["accuracy"] for r in by["classic"]]
            ps = [IDENTICAL] * 2 if same else [f"{p:.3g}", f"{adjusted[v]:.3g}"]
            cells += [fmt(d, half), *ps, fmt(*tests[v]["balanced_accuracy"][:2])]
        elif v == "real":
            cells += [
                fmt(*paired_difference(*[[r["accuracy"] for r in by[x]] for x in ("real", "classic")])[:2]),
                "",
                "",
                "",
            ]
        else:
            cells += ["", "", "", ""]
        out.append(f"| {v} | " + " | ".join(cells) + " |")
    return out + [""]


def variants(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["variant"] for r in rows))


if __name__ == "__main__":
    main()
