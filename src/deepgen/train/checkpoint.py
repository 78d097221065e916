"""Checkpoints: weights as safetensors, training state as a weights-only torch file, written atomically.

    RUN/checkpoints/step_000500/model.safetensors   weights + the model's constructor arguments
    RUN/checkpoints/step_000500/state.pt            step, optimizers, scalers, RNG, data position, run config

A checkpoint directory appears under its final name only once complete, so the newest one is
always loadable, whenever a run is killed. The weights' metadata holds a SHA-256 of the weights
and metadata themselves and one of state.pt (safetensors has no checksum), checked on every load.
"""

from __future__ import annotations

import hashlib
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

from deepgen.errors import CheckpointError, ConfigError, NonFiniteLossError
from deepgen.io import atomic_directory, write_synced
from deepgen.models.base import GenerativeModel

WEIGHTS, STATE = "model.safetensors", "state.pt"
STEP_DIR = re.compile(r"step_(\d+)")
PARTIAL = ".step_*.tmp"  # what a killed checkpoint write leaves (see deepgen.io.atomic_directory)


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


def remove_partial(run: Path) -> list[Path]:
    """Delete the temporary directories of checkpoint writes that were killed (call with the run lock held)."""
    found = sorted((run / "checkpoints").glob(PARTIAL))
    for tmp in found:
        shutil.rmtree(tmp, ignore_errors=True)
    return found


def save_checkpoint(run: Path, step: int, model: GenerativeModel, state: dict[str, Any], keep: int) -> Path:
    """Write the checkpoint of `step` atomically, then delete all but the newest `keep` (at least 1). Refuses
    (NonFiniteLossError) weights or buffers that hold NaN or infinity."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    target = run / "checkpoints" / f"step_{step:06d}"
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


def digest(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> str:
    """SHA-256 of the metadata (but its own digest) and of every tensor's name, dtype, shape and bytes."""
    h = hashlib.sha256(json.dumps({k: v for k, v in meta.items() if k != "sha256"}, sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and the deepgen metadata (model name, config, image shape, classes, step) of a weights file,
    checked against the digest it carries (files written before digests existed have none)."""
    try:
        with safe_open(path, framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
            meta = json.loads((f.metadata() or {}).get("deepgen", "null"))
    except (OSError, SafetensorError, ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"cannot read weights {path}: {e}") from None
    if not isinstance(meta, dict) or "model" not in meta:
        raise CheckpointError(f"{path} has no deepgen metadata; was it written by deepgen?")
    if "sha256" in meta and meta["sha256"] != digest(tensors, meta):
        raise CheckpointError(f"{path} is damaged: its weights or metadata do not match the SHA-256 stored with them")
    check_metadata(meta, path)
    return tensors, meta


def check_metadata(meta: dict[str, Any], path: Path) -> None:
    """The fields a model is rebuilt from must have the right shapes (a checkpoint may come from anyone)."""
    shape, classes = meta.get("shape"), meta.get("classes")
    problems = {
        "model": isinstance(meta["model"], str),
        "model_config": isinstance(meta.get("model_config"), dict),
        "shape": isinstance(shape, list) and len(shape) == 3 and all(type(n) is int and n > 0 for n in shape),
        "classes": isinstance(classes, list) and all(isinstance(c, str) for c in classes),
        "step": type(meta.get("step")) is int and meta["step"] >= 0,
    }
    bad = [k for k, ok in problems.items() if not ok]
    if bad:
        raise CheckpointError(
            f"{path}: invalid metadata {', '.join(f'{k}={meta.get(k)!r:.60}' for k in bad)} (expected model: a name, "
            "model_config: a mapping, shape: [channels, height, width] > 0, classes: a list of names, step >= 0)"
        )


def build_model(path: Path, device: torch.device) -> tuple[GenerativeModel, dict[str, Any]]:
    """Rebuild a model from a weights file alone."""
    from deepgen.config import build
    from deepgen.registry import get_model

    tensors, meta = read_weights(path)
    try:
        cls = get_model(meta["model"])
        config = build(cls.Config, meta["model_config"], "model_config")
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None
    try:
        model = cls(config, tuple(meta["shape"]), meta["classes"])
    except (ValueError, RuntimeError, TypeError, IndexError, ConfigError) as e:
        raise CheckpointError(f"{path}: cannot build a {meta['model']} from its metadata: {e}") from None
    load_weights(model, tensors, path)
    return model.to(device), meta


def load_weights(model: GenerativeModel, tensors: dict[str, torch.Tensor], path: Path) -> None:
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise CheckpointError(f"weights in {path} do not fit model {model.name}: {e}") from None


def load_state(path: Path, sha256: str | None = None) -> dict[str, Any]:
    """Load a training-state file, refusing anything but tensors and plain data, and (given `sha256`, from the
    weights' metadata) a file whose digest differs."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read training state {path}: {e}") from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise CheckpointError(f"{path} is damaged: it does not match the SHA-256 stored with the checkpoint's weights")
    try:
        state = torch.load(BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if unsafe:
            raise CheckpointError(
                f"refusing to load {path}: it holds objects other than tensors and plain data, which could run code "
                f"(it asks for {unsafe.group(1)}); only load checkpoints written by deepgen"
            ) from None
        raise CheckpointError(f"cannot read training state {path}: {str(e).strip().splitlines()[-1]}") from None
    except Exception as e:  # a damaged file fails in many ways; weights_only keeps it from running code
        raise CheckpointError(f"cannot read training state {path}: {type(e).__name__}: {e}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a deepgen training state (expected a mapping)")
    return state
