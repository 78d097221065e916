"""The truncation trade-off of a trained StyleGAN run: for each psi, seeded samples scored against the run's test
split under the classifier evaluator's features (FID, precision, recall, confidence), and one grid with a row per
psi (the same noise in every row), written next to a table.

    python bench/stylegan_truncation.py RUN --psi 1 0.8 0.6 0.4 0.2 0 --out DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from deepgen.eval.evaluate import Judge
from deepgen.eval.settings import Settings
from deepgen.run import open_run
from deepgen.sampling import generate
from deepgen.viz.grids import grid, save_png

SHOWN = ("fid", "precision", "recall", "confidence")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--psi", type=float, nargs="+", default=[1.0, 0.8, 0.6, 0.4, 0.2, 0.0])
    parser.add_argument("--n", type=int, default=2000, help="samples scored per psi")
    parser.add_argument("--per-row", type=int, default=12, help="images per psi in the grid")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    opened = open_run(args.run).load(torch.device("cpu"))
    model = opened.model
    judge = Judge(opened.config.data, Settings(device="cpu"), log=lambda _: None)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, lines = [], []
    for psi in args.psi:
        model.config.truncation = psi
        labels = torch.arange(args.n) % len(model.classes) if model.conditional else None
        images = generate(model, args.n, seed=0, labels=labels)
        metrics = {m.name: m.value for m in judge.sample_metrics(images) if m.name in SHOWN}
        rows.append(images[: args.per_row])
        lines.append(f"| {psi:g} | " + " | ".join(f"{metrics[k]:.3g}" for k in SHOWN) + " |")
        print(json.dumps({"psi": psi, **metrics}), flush=True)
    save_png(grid(torch.cat(rows), nrow=args.per_row), args.out / "truncation.png")
    header = f"{args.run} (step {opened.step}); features {judge.features.description}; {args.n} samples per psi\n\n"
    table = "| psi | " + " | ".join(SHOWN) + " |\n|" + " --- |" * (len(SHOWN) + 1) + "\n" + "\n".join(lines) + "\n"
    (args.out / "truncation.md").write_text(header + table)
    print(header + table + f"grid: {args.out / 'truncation.png'} (a row per psi, same noise)")


if __name__ == "__main__":
    main()
