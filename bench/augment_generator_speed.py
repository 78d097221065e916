"""Steps/s of the generator `deepgen augment` trains against `deepgen train` on the same data: since one sizing rule
serves both, augment's generator trains at train's auto batch size; before, augment set min(64, training images).

    OMP_NUM_THREADS=1 python bench/augment_generator_speed.py --out /tmp/generator-speed

Conditional DCGAN on mnist10k (28 px) at 25 images per class (200 training images after augment's validation split), one
thread; the load average is printed with each figure.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml

from deepgen.cli import main


def steps_per_second(args: list[str], run: Path, steps: int) -> tuple[float, int]:
    start = time.perf_counter()
    assert main(args) == 0
    took = time.perf_counter() - start
    return steps / took, yaml.safe_load((run / "config.yaml").read_text())["train"]["batch_size"]


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-generator-speed"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    common = ["--data", "mnist10k", "--device", "cpu"]
    train = ["train", "dcgan", *common, "--limit-per-class", "20", "--conditional", "--steps", str(args.steps)]
    train += ["--no-tensorboard", "--sample-every", str(args.steps)]
    for name, extra in (("train (auto batch)", []), ("augment before (batch 64)", ["--batch-size", "64"])):
        out = args.out / ("train-auto" if not extra else "train-64")
        rate, batch = steps_per_second([*train, *extra, "--out", str(out)], out, args.steps)
        print(f"{name}: batch {batch}, {rate:.1f} steps/s (load {Path('/proc/loadavg').read_text().split()[0]})")
    out = args.out / "augment"
    augment = ["augment", *common, "--limit-per-class", "25", "--val-fraction", "0.2", "--train-generator", "dcgan"]
    augment += ["--generator-steps", str(args.steps), "--ratios", "0", "1", "--seeds", "1", "--no-classic"]
    augment += ["--max-steps", "1", "--eps", "--noise", "--blur", "--generator-set", f"sample_every={args.steps}"]
    start = time.perf_counter()
    assert main([*augment, "--out", str(out)]) == 0
    run = out / "generators" / "seed0" / "dcgan"
    batch = yaml.safe_load((run / "config.yaml").read_text())["train"]["batch_size"]
    print(f"augment now (whole experiment, {args.steps} generator steps): batch {batch}, "
          f"{args.steps / (time.perf_counter() - start):.1f} generator steps/s including its classifiers")  # fmt: skip


if __name__ == "__main__":
    main_()
