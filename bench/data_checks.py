"""How long the data checks take on 10,000 MNIST-size images (mnist10k): every check of `deepgen inspect`, and the
cheap ones every load runs (on the 8,000 / 2,000 split), in parts. Prints one markdown table.

    OMP_NUM_THREADS=1 taskset -c 1 python bench/data_checks.py [--data mnist10k] [--repeats 3]"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from deepgen.config import DataConfig
from deepgen.data.imageset import split
from deepgen.data.quality.collect import collect
from deepgen.data.quality.duplicates import Fingerprints, copies
from deepgen.data.quality.findings import inspect
from deepgen.data.quality.onload import CACHE, check_on_load
from deepgen.data.quality.signals import measure
from deepgen.data.sources import SOURCES


def best(repeats: int, work: Callable[[], object]) -> float:
    """The fastest of `repeats` wall times, in seconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist10k")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cfg = DataConfig(data=args.data)
    data = collect(cfg)
    everything, _ = SOURCES[args.data].read(cfg)
    train, test = split(everything, cfg.test_fraction, cfg.split_seed)
    fingerprints = Fingerprints.of(data.images)

    def on_load() -> object:
        CACHE.clear()
        return check_on_load(train, test, "split seed 0", False, args.data)

    rows = [
        ("read the images (collect)", best(args.repeats, lambda: collect(cfg))),
        ("per-image statistics (measure)", best(args.repeats, lambda: measure(data.images))),
        ("signatures and pixel digests", best(args.repeats, lambda: Fingerprints.of(data.images))),
        ("copies among all images (all pairs)", best(args.repeats, lambda: copies(fingerprints))),
        ("every check of deepgen inspect (inspect)", best(args.repeats, lambda: inspect(data))),
        (f"checks on load ({len(train):,} / {len(test):,} split)", best(args.repeats, on_load)),
    ]
    c, h, w = data.images.shape[1:]
    print(f"{args.data}: {len(data):,} images of {c}x{h}x{w}; {torch.get_num_threads()} thread(s); best of "
          f"{args.repeats}")  # fmt: skip
    print("\n| step | seconds |\n| --- | --- |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
