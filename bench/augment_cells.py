"""`deepgen augment` as cells: the wall time of --jobs 2 against --jobs 1 (one thread per worker, the same rows),
and a kill -9 in the middle of an experiment followed by the same command (only the unfinished cells run; a
continue of the finished experiment trains nothing).

    flock /tmp/bench.lock python bench/augment_cells.py --out /tmp/augment-cells

Every command runs with OMP_NUM_THREADS=1 (--jobs 1: one thread; --jobs 2: one per worker); the load average is
printed at the start and the end.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

EXPERIMENT = [
    "--data", "digits", "--limit-per-class", "10", "--train-generator", "dcgan", "--ratios", "0", "1",
    "--adversarial", "none", "fgsm", "--generator-steps", "300", "--max-steps", "200", "--eps", "0.1", "--noise",
    "--blur", "--robust-n", "200", "--device", "cpu",
]  # fmt: skip


def deepgen(args: list[str], **popen: object) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "deepgen", "augment", *args], env=env, text=True, **popen)


def timed(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = deepgen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out, _ = done.communicate()
    assert done.returncode == 0, out[-2000:]
    return time.perf_counter() - start, out


def rows(out: Path) -> list[dict]:
    """results.csv without its timing columns, the experiment's folder written as OUT (the generator column names
    it)."""
    from deepgen.augmentation.cells import TIMING

    return [
        {k: v.replace(str(out), "OUT") for k, v in r.items() if k not in TIMING}
        for r in csv.DictReader((out / "results.csv").open())
    ]


def cells(out: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in (out / "cells").glob("**/*.json")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-augment-cells"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    print(f"load at start: {Path('/proc/loadavg').read_text().strip()}; {os.cpu_count()} cores", flush=True)
    common = [*EXPERIMENT, "--seeds", str(args.seeds)]
    one, _ = timed([*common, "--jobs", "1", "--out", str(args.out / "jobs1")])
    two, _ = timed([*common, "--jobs", "2", "--out", str(args.out / "jobs2")])
    same = rows(args.out / "jobs1") == rows(args.out / "jobs2")
    print(f"--jobs 1: {one:.0f} s; --jobs 2: {two:.0f} s ({two / one:.2f} x); rows identical: {same}", flush=True)

    killed = args.out / "killed"
    run = deepgen([*common, "--jobs", "1", "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                  start_new_session=True)  # fmt: skip
    total = len(rows_of_plan(common))
    while not (killed / "cells").is_dir() or len(cells(killed)) < total // 2:
        time.sleep(0.5)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    before = cells(killed)
    print(f"killed (-9) with {len(before)} of {total} cells done", flush=True)
    took, out = timed([*common, "--jobs", "1", "--out", str(killed)])
    counted = next(line for line in out.splitlines() if "cells done" in line)
    kept = all(cells(killed)[k] == t for k, t in before.items())
    print(f"continued in {took:.0f} s: '{counted}'; finished cells untouched: {kept}", flush=True)
    took, out = timed([*common, "--jobs", "1", "--out", str(killed)])
    counted = next(line for line in out.splitlines() if "cells done" in line)
    print(f"continue of the finished experiment: {took:.1f} s: '{counted}'", flush=True)
    print(f"rows equal to --jobs 1's: {rows(killed) == rows(args.out / 'jobs1')}", flush=True)
    print(f"load at end: {Path('/proc/loadavg').read_text().strip()}", flush=True)


def rows_of_plan(common: list[str]) -> list[object]:
    """The experiment's cells, as augment plans them."""
    from deepgen.augmentation.cells import plan
    from deepgen.commands.augment import config

    return plan(config([*common, "--out", "unused"]))


if __name__ == "__main__":
    main()
