"""Do two runs hold the same weights? Compares the newest checkpoints' tensors exactly (names, dtypes, shapes,
bits), e.g. a run trained before a restructure against the same command after it:

    python bench/same_weights.py runs/ae-before runs/ae-after     # exit 0 and "identical" when they match

Each weights file is read through deepgen.weights, so a damaged one fails on its digest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from deepgen.run import WEIGHTS, open_run
from deepgen.weights import read_weights


def newest_weights(run: Path) -> dict[str, torch.Tensor]:
    """The tensors of the newest checkpoint of `run` (or of the checkpoint directory `run`)."""
    return read_weights(open_run(run).checkpoint / WEIGHTS)[0]


def differences(ta: dict[str, torch.Tensor], tb: dict[str, torch.Tensor]) -> list[str]:
    """What differs between two sets of named tensors (empty: identical)."""
    found = [f"{name}: only in the {'first' if name in ta else 'second'}" for name in sorted(ta.keys() ^ tb.keys())]
    for name in sorted(ta.keys() & tb.keys()):
        x, y = ta[name], tb[name]
        if x.dtype != y.dtype or x.shape != y.shape:
            found.append(f"{name}: {x.dtype}{tuple(x.shape)} vs {y.dtype}{tuple(y.shape)}")
        elif not torch.equal(x, y):
            diff = (x.double() - y.double()).abs().max().item() if x.is_floating_point() else "-"
            found.append(f"{name}: values differ (max abs {diff})")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs=2, type=Path, metavar="RUN", help="two run (or checkpoint) directories")
    a, b = parser.parse_args().runs
    ta, tb = newest_weights(a), newest_weights(b)
    found = differences(ta, tb)
    print(f"{a} vs {b}: " + (f"identical ({len(ta)} tensors)" if not found else f"{len(found)} tensors differ"))
    for line in found[:20]:
        print(f"  {line}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
