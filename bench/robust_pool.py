"""Do generated images make a scarce-data classifier more accurate *and more robust* under adversarial training?

A thin driver of `deepgen augment`: per data set (--data), one experiment at every --limits images per class, paired
over --seeds (the split, the classifiers and the generators of seed s are shared by every variant). Its cells, per
size and seed: real-only; classic augmentation once per kind (--classic-kind auto: the kind of best *validation*
accuracy is the seed's classic — the test split chooses nothing); real and classic under fast adversarial
training (`--adversarial none fgsm`: FGSM from a random start; the evaluation attack is PGD-20 with 2 random
restarts); every --generators model (trained on the seed's training split only, conditional; the DCGAN with
differentiable augmentation, translation and colour, at every size), its pool of generated images (10 x the real
training images, made once) and, on top of classic augmentation (`--classic-only`), a classifier with the pool at
--fraction of every batch, with and without AT. The baselines are cells the generators share.

The tables are augment's own: OUT/DATA/summary.md (clean and every robust column with mean ± 95% CI, Δ against the
variant's baseline, paired t with Holm, McNemar, the conclusion) and report.html; OUT/table.md gathers them, and
OUT/headline.md is the README's table, read from the same statistics. --jobs N gives each experiment N worker
processes of one thread each (on this 2-core CPU: 2); a stopped bench keeps every finished cell, and the same
command continues it. Measured on the 2-core CPU (--jobs 2, defaults): mnist10k 54 min, digits 17 min; a
continue of the finished bench 13 s.
    flock /tmp/bench.lock python bench/robust_pool.py --out runs/bench-robust-pool
A reduced run:
    python bench/robust_pool.py --data digits --seeds 3 --limits 10 --generators dcgan --out runs/bench-reduced
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from deepgen.augmentation.cells import AUTO, plan, read_cell, reported
from deepgen.augmentation.config import AugmentConfig
from deepgen.augmentation.experiment import run_experiment
from deepgen.augmentation.summary import studies
from deepgen.classify.classic import CLASSIC
from deepgen.classify.config import AdversarialConfig, FitConfig
from deepgen.config import DataConfig
from deepgen.report import Table, markdown
from deepgen.results import read_csv_rows

# the conditional DCGAN with differentiable augmentation at every size (the auto rule turns it off from 400 images)
GENERATOR_SET = ["dcgan:augment=fixed", "dcgan:augment_ops=translation,color"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["mnist10k", "digits"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[5, 10], help="per data set, in --data order")
    parser.add_argument("--limits", type=int, nargs="+", default=[50, 10], help="images per class")
    parser.add_argument("--generators", nargs="+", default=["dcgan", "diffusion"])
    parser.add_argument("--classic-kind", default="auto", help="augment --classic-kind (auto: chosen on validation)")
    parser.add_argument("--adversarial", nargs="+", default=["none", "fgsm"], help="augment --adversarial")
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
    parser.add_argument("--pool", type=int, nargs="+", default=[0],
                        help="generated images per seed (0: 10 x the real ones); several: a pool each")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=2, help="worker processes of each experiment, one thread each")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-robust-pool"))
    args = parser.parse_args()
    seeds = dict(zip(args.data, args.seeds + args.seeds[-1:] * len(args.data)))
    summaries, start, rows = [], time.time(), []
    for data in args.data:
        cfg = config(
            args, data, seeds[data], args.out / data, classic_kind=args.classic_kind, classic_only=True,
            adversarial=args.adversarial, train_generator=args.generators, generator_steps=args.generator_steps,
            synthetic_fraction=args.fraction, generator_set=GENERATOR_SET, attack=args.attack, pool=args.pool,
        )  # fmt: skip
        run_experiment(cfg, log=lambda line: print(line, flush=True))
        summaries.append((cfg.out / "summary.md").read_text().replace("# ", f"# {data}: ", 1))
        rows += headline(data, cfg.out / "results.csv", args)
        spent, again = unshared(cfg)
        print(f"{data} done; {time.time() - start:.0f} s so far; its classifier cells took {spent:.0f} core-s, and "
              f"the earlier unshared plan would train them again for {again:.0f} core-s more", flush=True)  # fmt: skip
    (args.out / "table.md").write_text("\n".join(summaries))
    robust = [f"robust {k}" for k in robust_keys(args)]
    columns = ["data", "per class", "variant", "baseline", "clean", *robust, "Δ clean (p)"]
    columns += [f"Δ {r} (p)" for r in robust]
    (args.out / "headline.md").write_text(markdown(Table(columns, rows)))
    print(f"wrote {args.out / 'table.md'} and {args.out / 'headline.md'} in {time.time() - start:.0f} s")


def unshared(cfg: AugmentConfig) -> tuple[float, float]:
    """Core-seconds of the experiment's classifier cells, and what the bench's earlier plan (an experiment per
    classic kind, then one per generator) would add by training again, per size and seed, the real-only baseline
    per classic kind and per generator, the chosen classic per generator, and real+AT and classic+AT per generator:
    the same cells, timed here."""
    generators, kinds = len(cfg.train_generator), len(CLASSIC) if cfg.classic_kind == AUTO else 1
    spent = again = 0.0
    for cell in plan(cfg):
        found = read_cell(cfg, cell).get("rows", [])
        if not found:
            continue
        seconds = found[0]["seconds"]
        spent += seconds
        if cell.kind == "baseline" and reported(cfg, cell):
            real = cell.mode == "none" and not cell.classic
            again += seconds * (kinds - 1 + generators if real else generators - (cell.mode != "none"))
    return spent, again


def robust_keys(args: argparse.Namespace) -> list[str]:
    return [f"pgd@{args.eps:g}"] + ([f"{args.attack}@{args.eps:g}"] if args.attack != "pgd" else [])


def headline(data: str, results: Path, args: argparse.Namespace) -> list[list[str]]:
    """The README's rows, read from augment's own statistics (summary.studies): per size and variant, clean and
    robust accuracy (mean ± 95% CI), and the difference from the variant's baseline with its p (paired t, Holm)."""
    body = []
    for study in studies(read_csv_rows(results)):
        per_class = next(iter(study.by_variant.values()))[0]["per_class"]  # a study is one size
        for variant in study.by_variant:
            scores = [study.robust_cells(variant, key) for key in ["accuracy", *robust_keys(args)]]
            differences = [f"{c[2].split(' ±')[0]} ({c[4]})" if c[2] else "" for c in scores]
            body.append([data, per_class, variant, scores[0][0], *(c[1] for c in scores), *differences])
    return body


def config(args: argparse.Namespace, data: str, seeds: int, out: Path, **settings: object) -> AugmentConfig:
    fit = FitConfig(
        max_steps=args.max_steps, eval_every=25, patience=args.patience, attack=AdversarialConfig(eps=args.eps),
        select=args.select,
    )  # fmt: skip
    return AugmentConfig(
        data=DataConfig(data=data), limits=args.limits, out=out, seeds=seeds, eps=[args.eps], noise=[], blur=[],
        robust_images=args.robust_n, attack_steps=20, attack_restarts=2, fit=fit, device="cpu", jobs=args.jobs,
        **settings,
    )  # fmt: skip


if __name__ == "__main__":
    main()
