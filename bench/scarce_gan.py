"""Conditional GANs on scarce data, with and without the data-efficient options (differentiable augmentation
with adaptive p, LeCam), the same steps and seeds for both.

For each images-per-class limit, model and seed: train on mnist10k's (or --data's) limited training split (keeping a
checkpoint every 500 steps, to score with --score CHECKPOINT ...), draw --per-class samples of every class (seeded),
and score them against the full test split: FID, precision and recall under the features of the evaluator CNN
trained on the whole training split (`classifier:mnist10k`), asked-class accuracy (how often that CNN names the class
that was asked for), and the memorisation audit (the share of samples that are near-copies of a training image, and
the median copy ratio; eval/memorisation.py). The table gives mean ± 95% CI over seeds, and the paired difference
with - without. Each finished run is appended to OUT/results.jsonl and skipped when the script runs again. With
--score RUN ..., it scores finished runs the same way instead.

    flock /tmp/deepgen-bench.lock python bench/scarce_gan.py --out /work/runs-12/scarce
    python bench/scarce_gan.py --score runs/off runs/fixed      # one JSON line of scores per run
    # the same wall time per run for each model, each with its own options (MODEL:KEY=VALUE), only "with":
    python bench/scarce_gan.py --limits 10 --models dcgan stylegan --time-limit 180 --variants with \
        --with dcgan:augment=fixed dcgan:augment_ops=translation,color stylegan:augment=adaptive
"""

from __future__ import annotations

import argparse
import json
import time
from itertools import product
from pathlib import Path

import torch

from deepgen.augmentation.stats import mean_ci, paired_difference
from deepgen.classify.fit import predict
from deepgen.config import DataConfig, RunConfig
from deepgen.data import load_data
from deepgen.eval.evaluate import Judge
from deepgen.eval.memorisation import audit
from deepgen.eval.settings import Settings
from deepgen.run import open_run
from deepgen.sampling import balanced_labels, generate
from deepgen.training.trainer import train

METRICS = [("fid", "FID ↓"), ("asked_class_accuracy", "asked-class acc. ↑"), ("precision", "precision ↑"),
           ("recall", "recall ↑"), ("near_copies", "near-copies ↓"), ("copy_ratio", "copy ratio")]  # fmt: skip
WITHOUT = {"augment": "off", "lecam": 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limits", type=int, nargs="+", default=[10, 50], help="training images per class")
    parser.add_argument("--models", nargs="+", default=["dcgan", "wgan-gp"])
    parser.add_argument("--steps", nargs="+", default=["dcgan=1000", "wgan-gp=400"], help="MODEL=STEPS")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--time-limit", type=float, help="train each run this many seconds instead of --steps")
    parser.add_argument("--width", nargs="+", default=["dcgan=32", "wgan-gp=16"], help="MODEL=WIDTH (g and d)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--with",
        dest="options",
        nargs="+",
        default=["augment=adaptive", "lecam=0.0"],
        help="the options, KEY=VALUE (all models) or MODEL:KEY=VALUE",
    )
    parser.add_argument("--variants", nargs="+", default=["without", "with"], choices=["without", "with"])
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--data", default="mnist10k", help="data set to train on and to score against (its classifier)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-scarce"))
    parser.add_argument("--score", type=Path, nargs="+", metavar="RUN", help="only score these finished runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    judge = Judge(DataConfig(data=args.data), Settings(features=f"classifier:{args.data}", device="cpu"))
    if args.score:
        for run in args.score:
            print(json.dumps({"run": str(run), **score(run, judge, args.per_class)}), flush=True)
        return
    steps, widths = pairs(args.steps, int), pairs(args.width, int)
    variants = {k: v for k, v in {"without": WITHOUT, "with": pairs(args.options, str)}.items() if k in args.variants}
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    done = {(r["limit"], r["model"], r["variant"], r["seed"]) for r in read(results)}
    grid = product(args.limits, args.models, range(args.seeds), variants.items())
    for limit, model, seed, (variant, options) in grid:
        if (limit, model, variant, seed) in done:
            continue
        name = f"{model}-{limit}pc-{variant}-seed{seed}"
        n = steps.get(model, 10**7) if args.time_limit is None else 10**7
        settings = {"limit_per_class": limit, "steps": n, "seed": seed, "conditional": True,
                    "batch_size": args.batch_size, "log_every": 10, "sample_every": n,
                    "checkpoint_every": min(500, n), "keep_checkpoints": 100,
                    "device": "cpu", "tensorboard": False, "out": str(args.out / name), "time_limit": args.time_limit,
                    **({"g_width": widths[model], "d_width": widths[model]} if model in widths else {}),
                    **for_model(options, model)}  # fmt: skip
        row = {"limit": limit, "model": model, "variant": variant, "seed": seed}
        row |= run_and_score(settings | {"data": args.data}, model, judge, args.per_class)
        with open(results, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(name, json.dumps(row), flush=True)
    text = table(read(results), judge)
    (args.out / "table.md").write_text(text)
    print(text)


def for_model(options: dict, model: str) -> dict:
    """The options for `model`: 'KEY' ones and its own 'MODEL:KEY' ones."""
    return {k.split(":", 1)[-1]: v for k, v in options.items() if ":" not in k or k.startswith(f"{model}:")}


def pairs(items: list[str], kind: type) -> dict:
    """['a=1', 'b=2'] -> {'a': kind('1'), 'b': kind('2')} (strings stay for the config to coerce)."""
    return {k: kind(v) for k, v in (item.split("=", 1) for item in items)}


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def run_and_score(settings: dict, model_name: str, judge: Judge, per_class: int) -> dict:
    cfg = RunConfig.default(model_name)
    for key, value in settings.items():
        cfg.set(key, value)
    started = time.perf_counter()
    result = train(cfg)
    seconds = time.perf_counter() - started
    return {**score(result.checkpoint, judge, per_class), "steps": result.step, "train_s": round(seconds, 1)}


def score(run: Path, judge: Judge, per_class: int) -> dict:
    """FID, precision, recall and asked-class accuracy of `per_class` seeded samples of each class of a conditional
    run (or checkpoint), its final augmentation p, health warnings and samples grid."""
    trained = open_run(run).load(torch.device("cpu"))
    model = trained.model
    labels = balanced_labels(len(model.classes), per_class)
    images = generate(model, len(labels), seed=1, labels=labels)
    metrics = {m.name: m.value for m in judge.sample_metrics(images) if m.name in ("fid", "precision", "recall")}
    asked = (predict(judge.classifier.cnn, images).argmax(1) == labels).float().mean().item()
    splits = load_data(trained.config.data)
    copies = audit(images, splits.train.images, splits.test.images)
    health = [m.split(";")[0] for m in trained.warnings()]
    p = float(model.ada_p) if hasattr(model, "ada_p") else None
    grid = trained.path / "samples" / f"step_{trained.step:06d}.png"
    return {**metrics, "asked_class_accuracy": asked, "near_copies": copies.copy_share,
            "copy_ratio": copies.ratios.median().item(), "ada_p": p, "health": health, "grid": str(grid)}  # fmt: skip


def table(rows: list[dict], judge: Judge) -> str:
    """Mean ± 95% CI over seeds of each metric, with and without the options, and the paired difference."""
    groups: dict[tuple, dict[str, list[dict]]] = {}
    for r in rows:
        groups.setdefault((r["limit"], r["model"]), {}).setdefault(r["variant"], []).append(r)
    lines = [
        f"Features: {judge.features.description}; real: {judge.about()['real']}.",
        "",
        "| per class | model | steps (train s) | options | seeds | "
        + " | ".join(label for _, label in METRICS)
        + " | final p | runs warned |",
        "|" + " --- |" * (len(METRICS) + 7),
    ]
    for (limit, model), by_variant in sorted(groups.items()):
        for variant, runs in sorted(by_variant.items(), key=lambda kv: kv[0] != "without"):
            runs = sorted(runs, key=lambda r: r["seed"])
            steps = f"{mean_ci([r['steps'] for r in runs])[0]:.0f} ({mean_ci([r['train_s'] for r in runs])[0]:.0f})"
            cells = [fmt(*mean_ci([r[k] for r in runs])) if k in runs[0] else "–" for k, _ in METRICS]
            p = [r["ada_p"] for r in runs if r["ada_p"] is not None]
            warned = sum(bool(r["health"]) for r in runs)
            lines.append(f"| {limit} | {model} | {steps} | {variant} | {len(runs)} | " + " | ".join(cells)
                         + f" | {fmt(*mean_ci(p)) if p else '–'} | {warned}/{len(runs)} |")  # fmt: skip
        if {"with", "without"} <= by_variant.keys():
            a, b = (sorted(by_variant[v], key=lambda r: r["seed"]) for v in ("with", "without"))
            if [r["seed"] for r in a] == [r["seed"] for r in b]:
                diffs = [paired_difference([r[k] for r in a], [r[k] for r in b]) for k, _ in METRICS]
                cells = [fmt(d, half) + f" (p={p:.2g})" for d, half, p in diffs]
                lines.append(f"| {limit} | {model} | | with − without | {len(a)} | " + " | ".join(cells)
                             + " | | |")  # fmt: skip
    return "\n".join(lines) + "\n"


def fmt(mean: float, half: float) -> str:
    return f"{mean:.3g}" if half != half else f"{mean:.3g} ± {half:.2g}"


if __name__ == "__main__":
    main()
