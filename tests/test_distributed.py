"""torchrun with two CPU processes (gloo) trains the same weights as one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from deepgen.cli import main
from deepgen.run import STATE, WEIGHTS, latest_checkpoint
from deepgen.weights import load_state

ARGS = [
    "train", "ae", "--arch", "dense", "--hidden", "32", "--latent-dim", "4", "--data", "digits", "--steps", "6",
    "--batch-size", "16", "--device", "cpu", "--no-tensorboard", "--log-every", "2", "--checkpoint-every", "4",
    "--sample-every", "100", "--hflip",
]  # fmt: skip


def test_two_processes_match_one(tmp_path: Path) -> None:
    assert main([*ARGS, "--out", str(tmp_path / "one")]) == 0
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        str(torchrun),
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "deepgen",
        *ARGS,
        "--out",
        str(tmp_path / "two"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run directory:") == 1 and "checkpoint:      None" not in done.stdout  # rank 0 reports

    one, two = latest_checkpoint(tmp_path / "one"), latest_checkpoint(tmp_path / "two")
    assert one.name == two.name == "step_000006"
    a, b = load_file(one / WEIGHTS), load_file(two / WEIGHTS)
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6) for k in a)  # equal up to float summation order
    assert len(load_state(two / STATE)["rng"]) == 2  # each process's RNG state, for an exact resume
    rows = lambda run: [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    losses_one = [r["ae/recon"] for r in rows(tmp_path / "one") if "ae/recon" in r]
    losses_two = [r["ae/recon"] for r in rows(tmp_path / "two") if "ae/recon" in r]  # mean over both processes
    assert len(losses_one) == len(losses_two) == 3 and torch.allclose(
        torch.tensor(losses_one), torch.tensor(losses_two)
    )
