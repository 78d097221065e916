"""Wall time of a whole `deepgen compare` on an image folder, and the share of it outside training.

Makes a folder of --images 28 px PNGs (one sub-folder per class) from the MNIST test set in IDX files, then, for each
source tree --src, runs `python -m deepgen compare MODELS --data folder:F --budget B --device cpu` in a subprocess with
a fresh evaluator cache (the first compare on a new folder trains its evaluator: part of what a user waits for) and
reports the total wall time, the training time (results.csv `wall_s`, summed) and the rest.

    python bench/compare_wall.py --idx ../shared/data/mnist --src OLD/src src --budget 2m --out /tmp/compare-wall

Pin it and set the threads from outside (`taskset -c 1 env OMP_NUM_THREADS=1 ...`): both trees run one after the other.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from deepgen.data.sources import idx_pair


def make_folder(idx: Path, n: int, out: Path) -> Path:
    """The first `n` images of the MNIST test set as out/<digit>/<index>.png (kept when already made)."""
    if out.is_dir():
        return out
    digits = idx_pair(idx, "t10k", [str(d) for d in range(10)])
    for i, (image, label) in enumerate(zip(digits.images[:n, 0].numpy(), digits.labels[:n].tolist())):
        (out / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(out / str(label) / f"{i:05d}.png")
    return out


def timed_compare(src: Path, folder: Path, models: list[str], budget: str, out: Path) -> dict:
    """Run compare from source tree `src` into `out` (a fresh evaluator cache inside it); wall time and its parts."""
    env = {**os.environ, "PYTHONPATH": str(src.resolve()), "DEEPGEN_CACHE": str(out / "cache")}
    argv = [sys.executable, "-m", "deepgen", "compare", *models, "--data", f"folder:{folder}", "--budget", budget]
    started = time.perf_counter()
    with (out.parent / f"{out.name}.log").open("w") as log:
        subprocess.run([*argv, "--device", "cpu", "--out", str(out / "compare")], env=env, stdout=log, stderr=log,
                       check=True)  # fmt: skip
    total = time.perf_counter() - started
    rows = [r for r in csv.DictReader((out / "compare" / "results.csv").open()) if r["wall_s"]]  # not the floor
    training = sum(float(r["wall_s"]) for r in rows)
    steps = {r["model"]: int(r["steps"]) for r in rows}
    return {"src": str(src), "total_s": round(total, 1), "training_s": round(training, 1),
            "outside_training": round(1 - training / total, 3), "steps": steps}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idx", type=Path, required=True, help="folder with t10k-images/labels IDX files (.gz too)")
    parser.add_argument("--images", type=int, default=3500)
    parser.add_argument("--src", type=Path, nargs="+", required=True, help="source trees to time (their src/)")
    parser.add_argument("--models", nargs="+", default=["vae", "dcgan", "diffusion"])
    parser.add_argument("--budget", default="2m")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    folder = make_folder(args.idx, args.images, args.out / f"mnist-{args.images}")
    for i, src in enumerate(args.src):
        result = timed_compare(src, folder, args.models, args.budget, args.out / f"tree{i}")
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
