"""Checkpoints: weights as safetensors, training state as a weights-only torch file, written atomically.

    RUN/checkpoints/step_000500/model.safetensors   weights + the model's constructor arguments
    RUN/checkpoints/step_000500/state.pt            step, optimizers, scalers, RNG and data position

A checkpoint directory appears under its final name only once complete, so the newest one is
always loadable, whenever a run is killed.
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
from io import BytesIO
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors

from deepgen.errors import CheckpointError
from deepgen.io import atomic_directory, write_synced
from deepgen.models.base import GenerativeModel

WEIGHTS, STATE = "model.safetensors", "state.pt"
STEP_DIR = re.compile(r"step_(\d+)")


def checkpoints(run: Path) -> list[Path]:
    """Complete checkpoint directories of `run`, oldest first."""
    folder = run / "checkpoints"
    if not folder.is_dir():
        return []
    found = [d for d in folder.iterdir() if d.is_dir() and STEP_DIR.fullmatch(d.name)]
    return sorted(found, key=lambda d: int(d.name[5:]))


def latest_checkpoint(run: Path) -> Path:
    found = checkpoints(run)
    if not found:
        raise CheckpointError(f"{run} has no checkpoint (expected {run}/checkpoints/step_NNNNNN/)")
    return found[-1]


def save_checkpoint(run: Path, step: int, model: GenerativeModel, state: dict[str, Any], keep: int) -> Path:
    """Write the checkpoint of `step` atomically, then delete all but the newest `keep`."""
    target = run / "checkpoints" / f"step_{step:06d}"
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {"deepgen": json.dumps({**model.init_args(), "step": step})}
    buffer = BytesIO()
    torch.save({"step": step, **state}, buffer)
    with atomic_directory(target) as tmp:
        write_synced(tmp / WEIGHTS, save_safetensors(weights, metadata=metadata))
        write_synced(tmp / STATE, buffer.getvalue())
    for old in checkpoints(run)[:-keep]:
        shutil.rmtree(old)
    return target


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and the deepgen metadata (model name, config, image shape, classes, step) of a weights file."""
    try:
        with safe_open(path, framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
            meta = json.loads((f.metadata() or {}).get("deepgen", "null"))
    except (OSError, SafetensorError, ValueError) as e:
        raise CheckpointError(f"cannot read weights {path}: {e}") from None
    if not isinstance(meta, dict) or "model" not in meta:
        raise CheckpointError(f"{path} has no deepgen metadata; was it written by deepgen?")
    return tensors, meta


def build_model(path: Path, device: torch.device) -> tuple[GenerativeModel, dict[str, Any]]:
    """Rebuild a model from a weights file alone."""
    from deepgen.config import build
    from deepgen.registry import get_model

    tensors, meta = read_weights(path)
    cls = get_model(meta["model"])
    model = cls(build(cls.Config, meta["model_config"], f"{path}: model_config"), tuple(meta["shape"]), meta["classes"])
    load_weights(model, tensors, path)
    return model.to(device), meta


def load_weights(model: GenerativeModel, tensors: dict[str, torch.Tensor], path: Path) -> None:
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise CheckpointError(f"weights in {path} do not fit model {model.name}: {e}") from None


def load_state(path: Path) -> dict[str, Any]:
    """Load a training-state file, refusing anything but tensors and plain data."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first_line = str(e).strip().splitlines()[0]
        raise CheckpointError(
            f"refusing to load {path}: it holds objects other than tensors and plain data, "
            f"which could run code ({first_line})"
        ) from None
    except (OSError, RuntimeError, EOFError) as e:
        raise CheckpointError(f"cannot read training state {path}: {e}") from None
