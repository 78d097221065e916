"""A run directory, the one place that knows its layout. The trainer writes runs; everything else reads them here.

    RUN/config.yaml                                  everything needed to repeat the run
    RUN/checkpoints/step_000500/model.safetensors    weights + the model's constructor arguments (deepgen.weights)
    RUN/checkpoints/step_000500/state.pt             training state (optimizers, RNG, data position, config)
    RUN/metrics.jsonl                                logged losses and health warnings, a row per line
    RUN/metrics.json                                 held-out metrics after training, and `deepgen eval`'s (each
                                                     updates its own keys under the file's lock, deepgen.io.update_json)
    RUN/.lock                                        held by the process that owns the run (deepgen.training.runlock)

    run = open_run(Path("runs/vae-mnist"))           # or a checkpoint directory of it
    model = run.load(device).model
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from deepgen.config import RunConfig
from deepgen.errors import CheckpointError
from deepgen.models.base import GenerativeModel
from deepgen.weights import build_model

CONFIG, METRICS, RESULTS, LOCK = "config.yaml", "metrics.jsonl", "metrics.json", ".lock"
CHECKPOINTS, WEIGHTS, STATE = "checkpoints", "model.safetensors", "state.pt"
RUNS = Path("runs")  # where new runs go unless told otherwise
STEP_DIR = re.compile(r"step_(\d+)")


def checkpoint_dir(run: Path, step: int) -> Path:
    """Where the checkpoint of `step` goes."""
    return run / CHECKPOINTS / f"step_{step:06d}"


def checkpoints(run: Path) -> list[Path]:
    """Complete checkpoint directories of `run`, oldest first."""
    folder = run / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = [d for d in folder.iterdir() if d.is_dir() and STEP_DIR.fullmatch(d.name)]
    return sorted(found, key=step_of)


def step_of(checkpoint: Path) -> int:
    """The step a checkpoint directory (step_NNNNNN) was written at."""
    return int(checkpoint.name[5:])


def latest_checkpoint(run: Path) -> Path:
    found = checkpoints(run)
    if not found:
        raise CheckpointError(f"{run} has no checkpoint (expected {run}/{CHECKPOINTS}/step_NNNNNN/)")
    return found[-1]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a metrics.jsonl file; a torn last line (a killed run) is dropped."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def warnings_of(run: Path) -> list[str]:
    """The health warnings run directory `run` recorded in its metrics.jsonl, in order."""
    return [r["message"] for r in read_jsonl(run / METRICS) if "health" in r]


@dataclass
class Run:
    """A run directory, at the checkpoint it was opened at (`at`) or else at its newest."""

    path: Path
    at: Path | None

    @property
    def checkpoint(self) -> Path:
        """The checkpoint directory in use (a CheckpointError if the run has none)."""
        return self.at or latest_checkpoint(self.path)

    @cached_property
    def config(self) -> RunConfig:
        """The run's config.yaml (read when first asked for: a checkpoint alone can still be loaded)."""
        return RunConfig.load(self.path / CONFIG)

    def checkpoints(self) -> list[Path]:
        return checkpoints(self.path)

    def metrics(self) -> list[dict[str, Any]]:
        """The rows of metrics.jsonl: logged losses, and health warnings ({"step", "health", "message"})."""
        return read_jsonl(self.path / METRICS)

    def warnings(self) -> list[str]:
        return warnings_of(self.path)

    def load(self, device: torch.device) -> LoadedRun:
        """The checkpoint's model rebuilt on `device` with its weights (checked against their digest), in eval mode."""
        checkpoint = self.checkpoint
        model, meta = build_model(checkpoint / WEIGHTS, device)
        model.eval()
        return LoadedRun(self.path, checkpoint, model, meta["step"])


@dataclass
class LoadedRun(Run):
    """A run with the model of its checkpoint loaded."""

    model: GenerativeModel
    step: int


def open_run(path: Path) -> Run:
    """The run directory `path` (at its newest checkpoint), or the checkpoint directory `path` of a run."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a run directory: {'a file' if path.exists() else 'it does not exist'}")
    if (path / WEIGHTS).is_file():
        return Run(path.parent.parent, path)
    if not (path / CONFIG).is_file() and not (path / CHECKPOINTS).is_dir():
        raise CheckpointError(f"{path} is not a run directory (it has no {CONFIG} and no {CHECKPOINTS}/)")
    return Run(path, None)


def run_holding(path: Path) -> Path | None:
    """The run directory that `path` is or lies in (the nearest folder with a config.yaml or a checkpoints/), if
    any: outputs of other commands do not go there (deepgen sample --out RUN would mix its files with the run's)."""
    return next((d for d in (path, *path.parents) if (d / CONFIG).is_file() or (d / CHECKPOINTS).is_dir()), None)


def data_slug(data: str) -> str:
    """A data name as part of a folder name: 'mnist10k' -> 'mnist10k'; 'folder:/data/scans' -> 'folder-scans'."""
    return f"folder-{Path(data[7:]).name}" if data.startswith("folder:") else data


def numbered(path: Path) -> Path:
    """`path`, or path-2, path-3, ... if taken: a new name that overwrites nothing."""
    candidate, n = path, 2
    while candidate.exists():
        candidate, n = path.with_name(f"{path.name}-{n}"), n + 1
    return candidate


def new_run_name(*parts: str) -> Path:
    """A free folder under runs/ named after `parts` (e.g. model and data slug), numbered if taken."""
    return numbered(RUNS / "-".join(parts))
