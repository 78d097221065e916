"""The files of one checkpoint, read and checked: weights (safetensors, carrying the model's constructor arguments
and SHA-256 digests of themselves and of the training state) and the training state (a weights-only torch file).
A checkpoint may come from anyone: nothing here runs code from it."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
from io import BytesIO
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from deepgen.errors import CheckpointError, ConfigError
from deepgen.models.base import GenerativeModel


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
