"""The files of one checkpoint, read and checked: weights (safetensors, carrying the model's constructor arguments
and SHA-256 digests of themselves and of the training state) and the training state (a weights-only torch file).
A checkpoint may come from anyone: nothing here runs code from it."""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import re
from io import BytesIO
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from deepgen.config import MAX_IMAGE_SIZE
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
    checked against the digest it carries (a file without one is refused: anyone may have edited it)."""
    try:
        with safe_open(path, framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
            meta = json.loads((f.metadata() or {}).get("deepgen", "null"))
    except (OSError, SafetensorError, ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"cannot read weights {path}: {e}") from None
    if not isinstance(meta, dict) or "model" not in meta:
        raise CheckpointError(f"{path} has no deepgen metadata; was it written by deepgen?")
    if "sha256" not in meta:
        raise CheckpointError(
            f"{path} carries no SHA-256 of its weights and metadata (deepgen stores one in every checkpoint), so "
            "nothing shows it is unaltered; refusing to load it"
        )
    if meta["sha256"] != digest(tensors, meta):
        raise CheckpointError(f"{path} is damaged: its weights or metadata do not match the SHA-256 stored with them")
    check_metadata(meta, path)
    return tensors, meta


def check_metadata(meta: dict[str, Any], path: Path) -> None:
    """The fields a model is rebuilt from must have the right shapes (a checkpoint may come from anyone)."""
    shape, classes = meta.get("shape"), meta.get("classes")
    problems = {
        "model": isinstance(meta["model"], str),
        "model_config": isinstance(meta.get("model_config"), dict),
        "shape": isinstance(shape, list)
        and len(shape) == 3
        and all(type(n) is int for n in shape)
        and shape[0] in (1, 3)
        and all(4 <= n <= MAX_IMAGE_SIZE for n in shape[1:]),
        "classes": isinstance(classes, list) and all(isinstance(c, str) for c in classes),
        "step": type(meta.get("step")) is int and meta["step"] >= 0,
    }
    bad = [k for k, ok in problems.items() if not ok]
    if bad:
        raise CheckpointError(
            f"{path}: invalid metadata {', '.join(f'{k}={meta.get(k)!r:.60}' for k in bad)} (expected model: a name, "
            f"model_config: a mapping, shape: [1 or 3 channels, height, width of 4 to {MAX_IMAGE_SIZE}], classes: a "
            "list of names, step >= 0)"
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
        with torch.device("meta"):  # shapes only, no memory: checked against the stored weights before building
            check_fits(cls(config, tuple(meta["shape"]), meta["classes"]), tensors, path)
        model = cls(config, tuple(meta["shape"]), meta["classes"])
    except (ValueError, RuntimeError, TypeError, IndexError, NotImplementedError, ConfigError) as e:
        raise CheckpointError(f"{path}: cannot build a {meta['model']} from its metadata: {e}") from None
    load_weights(model, tensors, path)
    return model.to(device), meta


def check_fits(model: GenerativeModel, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """A CheckpointError unless `model` (built on the meta device from the metadata) has exactly the tensors stored:
    metadata may not ask for a larger model (widths, layers) than the weights the file holds."""
    wanted = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    stored = {k: tuple(v.shape) for k, v in tensors.items()}
    if wanted != stored:
        differ = sorted(k for k in wanted.keys() | stored.keys() if wanted.get(k) != stored.get(k))
        raise CheckpointError(
            f"{path}: its metadata describes a {model.name} of {numel(wanted.values()):,} weights, but the file "
            f"stores {numel(stored.values()):,} (first difference: {differ[0]} {wanted.get(differ[0])} in the "
            f"metadata, {stored.get(differ[0])} stored); refusing to build it"
        )


def numel(shapes: Any) -> int:
    return sum(math.prod(s) for s in shapes)


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
