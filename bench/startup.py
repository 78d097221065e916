"""Start-up time of the deepgen command: wall time of `python -m deepgen ARGS` (best of --repeat), for the source
tree under each --src (e.g. main's and this branch's), process start included.

    python bench/startup.py --src /work/main/src src --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

COMMANDS = [
    ["--help"],
    ["models"],
    ["datasets"],
    ["train", "--help"],
    ["train", "vae", "--help"],
    ["train", "stylegan", "--help"],
    ["eval", "--help"],
    ["compare", "--help"],
    ["sample", "--help"],
    ["augment", "--help"],
    ["latent", "--help"],
    ["inspect", "--help"],
    ["evaluator", "train", "--help"],
]


def best_time(src: str, argv: list[str], repeat: int) -> float:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "deepgen", *argv], env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", nargs="+", default=["src"], help="source trees to time (PYTHONPATH)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--commands", nargs="+", help="only these, e.g. 'deepgen models' 'deepgen train vae --help'")
    args = parser.parse_args()
    for argv in [c.split()[1:] for c in args.commands] if args.commands else COMMANDS:
        row = {"command": "deepgen " + " ".join(argv)}
        row |= {src: round(best_time(src, argv, args.repeat), 2) for src in args.src}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
