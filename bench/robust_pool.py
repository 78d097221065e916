"""Do generated images make a scarce-data classifier more accurate *and more robust* under adversarial training?

A thin driver of `deepgen augment`: for each data set (--data) and images per class (--limits), paired over --seeds
(the split, the classifier and the generators of seed s are shared by every variant):

1. the best classic augmentation: one `augment` experiment per --classic-kinds (real vs classic); the kind with the
   best mean *validation* accuracy is chosen (the test split chooses nothing);
2. one `augment` experiment with that kind and every --generators model at once (each trained on each seed's
   training split only, conditional; DCGAN with differentiable augmentation, translation and colour, at every
   size), `--adversarial none fgsm` (fast AT; the evaluation attack is PGD-20 with 2 random restarts), `--classic-only`
   and a pool of generated images (10 x the real training images, made once per seed) drawn at --fraction of every
   batch. Its cells: per seed the baselines (real, classic, real+AT, classic+AT), shared by the generators, and per
   generator its pool with and without AT.

The tables are augment's own: OUT/DATA/Npc/experiment/summary.md (clean and every robust column with mean ± 95% CI,
Δ against the variant's baseline, paired t with Holm, McNemar, the conclusion) and report.html; OUT/table.md gathers
the summaries. --jobs N gives each experiment N worker processes of one thread each (on this 2-core CPU: 2); a
stopped bench keeps every finished cell, and the same command continues it.
    flock /tmp/bench.lock python bench/robust_pool.py --out runs/bench-robust-pool
A reduced run:
    python bench/robust_pool.py --data digits --seeds 3 --limits 10 --generators dcgan --out runs/bench-reduced
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from deepgen.augmentation.config import AugmentConfig
from deepgen.augmentation.experiment import run_experiment
from deepgen.augmentation.stats import mean_ci
from deepgen.classify.config import AdversarialConfig, FitConfig
from deepgen.config import DataConfig
from deepgen.results import read_csv_rows

# the conditional DCGAN with differentiable augmentation at every size (the auto rule turns it off from 400 images)
GENERATOR_SET = ["dcgan:augment=fixed", "dcgan:augment_ops=translation,color"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["mnist10k", "digits"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[5, 10], help="per data set, in --data order")
    parser.add_argument("--limits", type=int, nargs="+", default=[50, 10], help="images per class")
    parser.add_argument("--classic-kinds", nargs="+", default=["affine", "trivialaugment", "randaugment"])
    parser.add_argument("--generators", nargs="+", default=["dcgan", "diffusion"])
    parser.add_argument("--generator-steps", type=int, default=1000)
    parser.add_argument("--fraction", type=float, default=0.5, help="share of every batch from the generated pool")
    parser.add_argument("--eps", type=float, default=0.1, help="L-inf budget in [0, 1] pixel units (train and test)")
    parser.add_argument("--max-steps", type=int, default=400, help="classifier steps (early stopping on val)")
    parser.add_argument("--robust-n", type=int, default=500, help="test images attacked")
    parser.add_argument("--attack", choices=["pgd", "autoattack", "apgd"], default="pgd",
                        help="the attack beside PGD-20 in the AT experiment (augment --attack)")  # fmt: skip
    parser.add_argument("--select", choices=["clean", "robust"], default="clean",
                        help="AT classifiers keep the checkpoint of the best validation (robust) accuracy")  # fmt: skip
    parser.add_argument("--patience", type=int, default=4, help="validation checks without a better score")
    parser.add_argument("--pool", type=int, default=0, help="generated images per seed (0: 10 x the real ones)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes of each experiment, one thread each")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-robust-pool"))
    args = parser.parse_args()
    seeds = dict(zip(args.data, args.seeds + args.seeds[-1:] * len(args.data)))
    summaries, start = [], time.time()
    for data in args.data:
        for n in args.limits:
            kind = best_classic(args, data, n, seeds[data])
            cfg = config(
                args, data, n, seeds[data], args.out / data / f"{n}pc" / "experiment", classic_kind=kind,
                classic_only=True, adversarial=["none", "fgsm"], train_generator=args.generators,
                generator_steps=args.generator_steps, synthetic_fraction=args.fraction, generator_set=GENERATOR_SET,
                attack=args.attack, pool=args.pool,
            )  # fmt: skip
            cfg.fit = dataclasses.replace(cfg.fit, select=args.select)
            run_experiment(cfg, log=lambda line: print(line, flush=True))
            chosen = (args.out / data / f"{n}pc" / "classic.txt").read_text().strip()
            text = (cfg.out / "summary.md").read_text().replace("# ", f"# {data}, {n} per class: ", 1)
            summaries.append(text + f"\nclassic = {kind}, {chosen}\n")
            print(f"{data} at {n} per class done; {time.time() - start:.0f} s so far", flush=True)
    (args.out / "table.md").write_text("\n".join(summaries))
    print(f"wrote {args.out / 'table.md'} in {time.time() - start:.0f} s")


def config(args: argparse.Namespace, data: str, n: int, seeds: int, out: Path, **settings: object) -> AugmentConfig:
    fit = FitConfig(
        max_steps=args.max_steps, eval_every=25, patience=args.patience, attack=AdversarialConfig(eps=args.eps)
    )
    return AugmentConfig(
        data=DataConfig(data=data, limit_per_class=n), out=out, seeds=seeds, eps=[args.eps], noise=[], blur=[],
        robust_images=args.robust_n, attack_steps=20, attack_restarts=2, fit=fit, device="cpu", jobs=args.jobs,
        **settings,
    )  # fmt: skip


def best_classic(args: argparse.Namespace, data: str, n: int, seeds: int) -> str:
    """The classic augmentation with the best mean validation accuracy (the test split chooses nothing)."""
    scores = {}
    for kind in args.classic_kinds:
        cfg = config(args, data, n, seeds, args.out / data / f"{n}pc" / f"classic-{kind}", ratios=[0.0],
                     classic_kind=kind)  # fmt: skip
        run_experiment(cfg, log=lambda line: print(line, flush=True))
        rows = read_csv_rows(cfg.out / "results.csv")
        scores[kind] = mean_ci([float(r["val_accuracy"]) for r in rows if r["variant"] == "classic"])[0]
    (args.out / data / f"{n}pc" / "classic.txt").write_text(
        "chosen on mean validation accuracy: " + ", ".join(f"{k} {100 * v:.2f}" for k, v in scores.items()) + "\n"
    )
    return max(scores, key=scores.get)


if __name__ == "__main__":
    main()
