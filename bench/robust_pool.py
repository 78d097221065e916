"""Do generated images make a scarce-data classifier more accurate *and more robust* under adversarial training?

For each data set (--data) and images per class (--limits), paired over --seeds (the split, the classifier and the
generator of seed s are shared by every variant):

1. the best classic augmentation: `deepgen augment` with each --classic-kinds, real vs classic; the kind with the
   best mean *validation* accuracy is chosen (the test split chooses nothing);
2. for each --generators model (trained on each seed's training split only, conditional; DCGAN with differentiable
   augmentation, translation and colour, at every size): one experiment with that
   classic kind, `--adversarial none fgsm` (fast AT: training PGD-k costs k times more on a CPU; the evaluation attack
   is stronger: PGD-20 with 2 random restarts) and a pool of generated images (10 x the real training images, made
   once per seed and cached), conditional labels, drawn at --fraction of every batch. Variants: real, classic, real+AT,
   classic+AT, gen pool+classic, gen pool+classic+AT.

OUT/table.md: clean and robust accuracy (PGD at --eps, attack stated) as mean ± 95% CI, and the paired differences of
each variant against its baseline (classic + generated pool [+AT] against classic [+AT]; AT against the same data
without it; classic against real), with paired t-test p-values (none below 3 seeds or where the difference never
varies) and McNemar's test on the pooled test images. Every experiment writes its own folder in OUT, whose
results.csv grows seed by seed: a stopped bench keeps what finished, and rerunning it continues.

The parts (a data set at one size) run in --jobs processes of one thread each, in --data order (the costlier first),
larger sizes first. Measured on the 2-core CPU, one thread per part: mnist10k at 50 per class ~2.5 h, at 10 per
class ~2 h, digits at 50 ~50 min, at 10 36 min; so the defaults (--jobs 2) take about 3 hours:
    flock /tmp/bench.lock python bench/robust_pool.py --out /work/out/issue24/full
(The real/classic/AT baselines are trained again in every generator's experiment and each classic kind's: they are
the same models, seed for seed, so sharing them would save about a quarter.)
A reduced run (what fits in a shared session):
    ... bench/robust_pool.py --data digits --seeds 3 --limits 10 --generators dcgan --out /work/out/issue24/reduced
"""

from __future__ import annotations

import argparse
import csv
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch

from deepgen.augmentation.config import AugmentConfig
from deepgen.augmentation.experiment import run_experiment
from deepgen.augmentation.stats import mcnemar, mean_ci, paired_difference, unpack, untestable
from deepgen.augmentation.summary import holm
from deepgen.classify.config import AdversarialConfig, FitConfig
from deepgen.config import DataConfig

NUMBERS = ("accuracy", "val_accuracy")
# the conditional DCGAN with differentiable augmentation at every size (the auto rule turns it off from 400 images)
GENERATOR_SET = {"dcgan": ["augment=fixed", "augment_ops=translation,color"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["mnist10k", "digits"], help="the costlier first")
    parser.add_argument("--seeds", nargs="+", type=int, default=[5, 10], help="per data set, in --data order")
    parser.add_argument("--limits", type=int, nargs="+", default=[10, 50], help="images per class")
    parser.add_argument("--classic-kinds", nargs="+", default=["affine", "trivialaugment", "randaugment"])
    parser.add_argument("--generators", nargs="+", default=["dcgan", "diffusion"])
    parser.add_argument("--generator-steps", type=int, default=1000)
    parser.add_argument("--fraction", type=float, default=0.5, help="share of every batch from the generated pool")
    parser.add_argument("--eps", type=float, default=0.1, help="L-inf budget in [0, 1] pixel units (train and test)")
    parser.add_argument("--max-steps", type=int, default=400, help="classifier steps (early stopping on val)")
    parser.add_argument("--robust-n", type=int, default=500, help="test images attacked")
    parser.add_argument("--jobs", type=int, default=2, help="parts run at once, one process of one thread each")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-robust-pool"))
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    seeds = dict(zip(args.data, args.seeds + args.seeds[-1:] * len(args.data)))
    if not args.report_only:  # the costlier parts first: they end closer together
        parts = [(data, n, seeds[data]) for data in args.data for n in sorted(args.limits, reverse=True)]
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn"), initializer=torch.set_num_threads,
                                 initargs=(1,)) as pool:  # fmt: skip
            for done in pool.map(part, [args] * len(parts), parts):
                print(done, flush=True)
    report(args)


def part(args: argparse.Namespace, data_n_seeds: tuple[str, int, int]) -> str:
    """One data set at one size: the best classic kind, then one experiment per generator."""
    data, n, seeds = data_n_seeds
    start = time.time()
    kind = best_classic(args, data, n, seeds)
    for generator in args.generators:
        experiment(args, data, n, seeds, kind, generator)
    return f"{data} at {n} per class: {time.time() - start:.0f} s"


def config(args: argparse.Namespace, data: str, n: int, seeds: int, out: Path, **settings: object) -> AugmentConfig:
    fit = FitConfig(max_steps=args.max_steps, eval_every=25, patience=4, attack=AdversarialConfig(eps=args.eps))
    return AugmentConfig(
        data=DataConfig(data=data, limit_per_class=n), out=out, seeds=seeds, eps=[args.eps], noise=[], blur=[],
        robust_images=args.robust_n, attack_steps=20, attack_restarts=2, fit=fit, device="cpu", **settings,
    )  # fmt: skip


def run(cfg: AugmentConfig) -> list[dict]:
    cfg.out.mkdir(parents=True, exist_ok=True)
    if not (cfg.out / "summary.md").is_file():  # summary.md is written when every seed is done
        run_experiment(cfg, log=lambda line: print(line, flush=True))
    return read(cfg.out / "results.csv")


def best_classic(args: argparse.Namespace, data: str, n: int, seeds: int) -> str:
    """The classic augmentation with the best mean validation accuracy (the test split chooses nothing)."""
    scores = {}
    for kind in args.classic_kinds:
        out = args.out / data / f"{n}pc" / f"classic-{kind}"
        rows = run(config(args, data, n, seeds, out, ratios=[0.0], classic_kind=kind))
        scores[kind] = mean_ci([r["val_accuracy"] for r in rows if r["variant"] == "classic"])[0]
    (args.out / data / f"{n}pc" / "classic.txt").write_text(
        "chosen on mean validation accuracy: " + ", ".join(f"{k} {100 * v:.2f}" for k, v in scores.items()) + "\n"
    )
    return max(scores, key=scores.get)


def experiment(args: argparse.Namespace, data: str, n: int, seeds: int, kind: str, generator: str) -> list[dict]:
    out = args.out / data / f"{n}pc" / generator
    cfg = config(
        args, data, n, seeds, out, classic_kind=kind, classic_only=True, adversarial=["none", "fgsm"],
        train_generator=generator, generator_steps=args.generator_steps, synthetic_fraction=args.fraction,
        generator_set=GENERATOR_SET.get(generator, []),
    )  # fmt: skip
    return run(cfg)


def read(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = list(csv.DictReader(path.open()))
    for r in rows:
        r.update({k: float(r[k]) for k in (*NUMBERS, *(k for k in r if "@" in k)) if r.get(k)})
        r["seed"] = int(r["seed"])
    return rows


def report(args: argparse.Namespace) -> None:
    lines = ["# Generated pool x adversarial training: clean and robust test accuracy (percent)", ""]
    lines += [f"Small CNN, fast AT (FGSM, random start, eps {args.eps:g}) for '+AT'; robust = PGD at eps {args.eps:g}."]
    lines += ["Paired over seeds; Δ against the baseline named; p: paired t (Holm over the variants of a table);"]
    lines += [
        "McNemar: exact test on the test images pooled over seeds (+ only variant right / - only baseline right).",
        "",
    ]
    for data in args.data:
        for n in args.limits:
            folder = args.out / data / f"{n}pc"
            experiments = {g: read(folder / g / "results.csv") for g in args.generators}
            experiments = {g: rows for g, rows in experiments.items() if rows}
            if not experiments:
                continue
            lines += table(data, n, folder, experiments, args.eps)
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def table(data: str, n: int, folder: Path, experiments: dict[str, list[dict]], eps: float) -> list[str]:
    first = next(iter(experiments.values()))
    robust = f"pgd@{eps:g}"
    seeds = len({r["seed"] for r in first})
    chosen = (folder / "classic.txt").read_text().strip() if (folder / "classic.txt").is_file() else ""
    kind = next((r["classic_kind"] for r in first if r["classic_kind"]), "")
    lines = [f"## {data}, {n} images per class, {seeds} seeds; classic = {kind} ({chosen})", ""]
    lines += [f"Robust attack: {first[0]['robust_attack']}.", ""]
    lines += ["| variant | baseline | clean | robust | Δ clean | p | McNemar | Δ robust | p |", "|" + " --- |" * 9]
    by_variant: dict[str, list[dict]] = {}
    for generator, rows in experiments.items():  # the baselines of the first generator's experiment
        for r in rows:
            if r["synthetic"] not in ("", "0"):
                by_variant.setdefault(r["variant"].replace("gan ", f"{generator} ", 1), []).append(r)
            elif generator == next(iter(experiments)):
                by_variant.setdefault(r["variant"], []).append(r)
    for runs in by_variant.values():
        runs.sort(key=lambda r: r["seed"])
    tests = {}
    for v, runs in by_variant.items():
        base = runs[0]["baseline"]
        if base in by_variant and len(by_variant[base]) == len(runs):
            tests[v] = (base, *[paired_difference(*scores(runs, by_variant[base], k)) for k in ("accuracy", robust)])
    adjusted = {k: dict(zip(tests, holm([t[i][2] for t in tests.values()]))) for k, i in (("accuracy", 1), (robust, 2))}
    for v, runs in by_variant.items():
        clean, rob = (fmt(mean_ci([r[k] for r in runs])) for k in ("accuracy", robust))
        if v not in tests:
            lines.append(f"| {v} | | {clean} | {rob} | | | | | |")
            continue
        base, (dc, hc, _), (dr, hr, _) = tests[v]
        pc = p_cell(*scores(runs, by_variant[base], "accuracy"), adjusted["accuracy"][v])
        pr = p_cell(*scores(runs, by_variant[base], robust), adjusted[robust][v])
        better, worse, pm = mcnemar(
            [unpack(r["correct"]) for r in runs], [unpack(r["correct"]) for r in by_variant[base]]
        )
        mc = f"{pm:.3g} (+{better}/-{worse})"
        lines.append(f"| {v} | {base} | {clean} | {rob} | {fmt((dc, hc))} | {pc} | {mc} | {fmt((dr, hr))} | {pr} |")
    return lines + [""]


def scores(runs: list[dict], base: list[dict], key: str) -> tuple[list[float], list[float]]:
    return [r[key] for r in runs], [r[key] for r in base]


def p_cell(variant: list[float], baseline: list[float], adjusted: float) -> str:
    return untestable(variant, baseline) or f"{adjusted:.3g}"


def fmt(mean_half: tuple[float, float]) -> str:
    mean, half = mean_half
    return f"{100 * mean:.2f}" + ("" if half != half else f" ± {100 * half:.2f}")


if __name__ == "__main__":
    main()
