"""Writing checkpoints: weights as safetensors, training state as a weights-only torch file, atomically.

    RUN/checkpoints/step_000500/model.safetensors   weights + the model's constructor arguments
    RUN/checkpoints/step_000500/state.pt            step, optimizers, scalers, RNG, data position, run config

A checkpoint directory appears under its final name only once complete, so the newest one is
always loadable, whenever a run is killed. The weights' metadata holds a SHA-256 of the weights
and metadata themselves and one of state.pt (safetensors has no checksum), checked on every load
(deepgen.weights). The names of these files are deepgen.run's.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from io import BytesIO
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as save_safetensors

from deepgen.errors import NonFiniteLossError
from deepgen.io import atomic_directory, write_synced
from deepgen.models.base import GenerativeModel
from deepgen.run import CHECKPOINTS, STATE, WEIGHTS, checkpoint_dir, checkpoints
from deepgen.weights import digest

PARTIAL = ".step_*.tmp"  # what a killed checkpoint write leaves (see deepgen.io.atomic_directory)


def remove_partial(run: Path) -> list[Path]:
    """Delete the temporary directories of checkpoint writes that were killed (call with the run lock held)."""
    found = sorted((run / CHECKPOINTS).glob(PARTIAL))
    for tmp in found:
        shutil.rmtree(tmp, ignore_errors=True)
    return found


def save_checkpoint(run: Path, step: int, model: GenerativeModel, state: dict[str, Any], keep: int) -> Path:
    """Write the checkpoint of `step` atomically, then delete all but the newest `keep` (at least 1). Refuses
    (NonFiniteLossError) weights or buffers that hold NaN or infinity."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    target = checkpoint_dir(run, step)
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    bad = [k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise NonFiniteLossError(f"non-finite weights or buffers at step {step}: {', '.join(bad[:5])}")
    buffer = BytesIO()
    torch.save({"step": step, **state}, buffer)
    meta = {**model.init_args(), "step": step, "state_sha256": hashlib.sha256(buffer.getvalue()).hexdigest()}
    meta["sha256"] = digest(weights, meta)
    with atomic_directory(target) as tmp:
        write_synced(tmp / WEIGHTS, save_safetensors(weights, metadata={"deepgen": json.dumps(meta)}))
        write_synced(tmp / STATE, buffer.getvalue())
    for old in checkpoints(run)[:-keep]:
        shutil.rmtree(old)
    return target
