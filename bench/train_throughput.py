"""Training throughput: images/s of a full training step, plain eager fp32 (`baseline`, the way tutorial
implementations train) against deepgen's default path, the fast path (default + channels-last +
torch.compile) and the fast path replayed as CUDA graphs (`graphs`), for several models, image sizes and
batch sizes; then end-to-end wall time of `deepgen train` for a fixed number of steps, process start included.

    python bench/train_throughput.py                       # the full grid (meant for a GPU)
    python bench/train_throughput.py --models dcgan:32 --batches 64 --steps 5 --end-to-end 0   # a quick look

Images/s counts the real images a step consumes (for WGAN-GP: critic steps + 1 batches); data is the
shipped MNIST digits, resized, held on the device as uint8.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from deepgen.config import DataConfig, RunConfig
from deepgen.data import load_data
from deepgen.device import resolve_device
from deepgen.training.step import prepare

PATHS = {
    "baseline": {"precision": "fp32", "channels_last": False, "compile": False},
    "default": {},
    "fast": {"channels_last": True, "compile": True},
    "graphs": {"channels_last": True, "compile": True, "cuda_graphs": True},
}
MODELS = ["dcgan:32", "dcgan:64", "wgan-gp:32", "vae:32", "progan:32"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=MODELS, help="MODEL:SIZE")
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    parser.add_argument("--steps", type=int, default=30, help="timed steps (after as many warm-up steps)")
    parser.add_argument("--end-to-end", type=int, default=10_000, help="steps of the end-to-end run (0: skip)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-throughput"))
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = measure(args.models, args.batches, args.paths, device, args.steps)
    print("\n" + table(rows, args.paths))
    result = {"device": device_name(device), "rows": rows}
    if args.end_to_end:
        rate = throughput("dcgan", 128, {}, load_data(DataConfig(data="mnist10k")), device, args.steps)
        result["end_to_end"] = end_to_end(args.end_to_end, args.out, str(device), rate)
        print(json.dumps(result["end_to_end"], indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "throughput.json").write_text(json.dumps(result, indent=2))


def measure(
    models: list[str], batches: list[int], paths: list[str], device: torch.device, steps: int, data: str = "mnist10k",
    options: dict[str, dict] | None = None,
) -> list[dict]:  # fmt: skip
    """Images/s of each MODEL:SIZE at each batch size along each path (`options`: extra settings per model)."""
    rows = []
    for spec in models:
        name, _, size = spec.partition(":")
        splits = load_data(DataConfig(data=data, image_size=int(size), fit="pad"))
        for batch in batches:
            speeds = {}
            for path in paths:
                settings = {**(options or {}).get(name, {}), **PATHS[path]}
                speeds[path] = throughput(name, batch, settings, splits, device, steps)
                print(f"{spec:<11} batch {batch:<5} {path:<9} {speeds[path]:>10,.0f} img/s", flush=True)
            rows.append({"model": spec, "batch": batch, **speeds})
    return rows


def table(rows: list[dict], paths: list[str]) -> str:
    """The rows as a markdown table, with each path's speed-up over `baseline`."""
    faster = [p for p in paths if p != "baseline"] if "baseline" in paths else []
    lines = [
        f"| model | batch | {' | '.join(paths)} |" + "".join(f" {p} / baseline |" for p in faster),
        "|" + " --- |" * (len(paths) + len(faster) + 2),
    ]
    for r in rows:
        ratios = "".join(f" {r[p] / r['baseline']:.2f}x |" for p in faster)
        lines.append(f"| {r['model']} | {r['batch']} | " + " | ".join(f"{r[p]:,.0f}" for p in paths) + f" |{ratios}")
    return "\n".join(lines)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)


def throughput(name: str, batch: int, options: dict, splits, device: torch.device, steps: int) -> float:  # noqa: ANN001
    torch._dynamo.reset()  # compile for this measurement's shapes alone (no dynamic batch sizes, no cache limit)
    cfg = RunConfig.default(name)
    for key, value in {"batch_size": batch, "device": str(device), **options}.items():
        cfg.set(key, value)
    if name == "progan":  # measure the last resolution: the schedule is already past every fade-in
        cfg.set("stable_images", 0)
        cfg.set("fade_images", 0)
    stepper = prepare(cfg, splits, device)
    stepper.model.train()
    for _ in range(steps):  # warm-up (and compilation)
        stepper()
    sync(device)
    start, position = time.perf_counter(), stepper.batches.position
    for _ in range(steps):
        stepper()
    sync(device)
    return (stepper.batches.position - position) / (time.perf_counter() - start)


def end_to_end(
    steps: int, out: Path, device: str, images_per_s: float, batch: int = 128, extra: Sequence[str] = ()
) -> dict:
    """Wall time of `deepgen train dcgan --data mnist10k --steps N --batch-size B [extra options]`, process
    start included, and the share of it spent outside training steps: 1 - (N steps at the measured step
    rate) / wall time."""
    run = out / f"dcgan-e2e-{time.time_ns()}"
    command = [sys.executable, "-m", "deepgen", "train", "dcgan", "--data", "mnist10k", "--steps", str(steps)]
    command += ["--batch-size", str(batch), "--device", device, "--out", str(run), *extra]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - started
    in_steps = steps * 2 * batch / images_per_s  # a DCGAN step draws a critic batch and a generator batch
    return {"steps": steps, "wall_s": round(wall, 2), "in_steps_s": round(in_steps, 2), "outside": 1 - in_steps / wall}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


if __name__ == "__main__":
    main()
