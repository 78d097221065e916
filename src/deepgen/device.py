"""Device choice and mixed precision."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

from deepgen.errors import ConfigError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; other names are checked for availability."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} is not a device name; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {name}: MPS is not available on this machine")
    return device


def resolve_precision(name: str, device: torch.device) -> str:
    """'auto' is bf16 on GPUs that support it, fp32 elsewhere."""
    if name != "auto":
        return name
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """Autocast to `precision` (nothing for fp32); without the weight-cast cache while a CUDA graph is
    captured, as the cache would be freed inside the graph's memory."""
    if precision == "fp32":
        return nullcontext()
    capturing = device.type == "cuda" and torch.cuda.is_current_stream_capturing()
    return torch.autocast(device.type, dtype=DTYPES[precision], cache_enabled=not capturing)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """Loss scaling for fp16 (a no-op otherwise)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
