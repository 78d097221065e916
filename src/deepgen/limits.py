"""What a size implies, checked before anything is allocated: a size option (a batch, an image size, a count of
images, a network's width) is refused in one line, with the estimate and what the machine has, when the memory
it needs exceeds what is free; a step count beyond MAX_STEPS is refused as a run that would never end.

    need_memory(image_bytes(n, shape), f"{flag('n', n)}: {n} images of {shape}", "ask for fewer")

Every command (and the augmentation experiment) asks here, so that the estimate and the message are the same
everywhere."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from deepgen.errors import ConfigError

if TYPE_CHECKING:
    import torch

MAX_STEPS = 10**9  # training steps: at a millisecond a step, over 11 days
FLOAT_BYTES = 4  # float32: what images become inside a model


def human(n: float) -> str:
    """A byte count as a person reads it: 512 B, 1.9 GB, 3.7 TB (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError  # unreachable


def host_memory() -> tuple[int, int]:
    """(available, total) bytes of this machine's memory: /proc/meminfo where there is one, else os.sysconf."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        return int(fields["MemAvailable"].split()[0]) * 1024, int(fields["MemTotal"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        page = os.sysconf("SC_PAGE_SIZE")
        return os.sysconf("SC_AVPHYS_PAGES") * page, os.sysconf("SC_PHYS_PAGES") * page


def device_memory(device: torch.device | None) -> tuple[int, int, str]:
    """(available, total) bytes of `device`'s memory (the host's for cpu and mps) and its name for messages."""
    if device is not None and device.type == "cuda":
        import torch

        free, total = torch.cuda.mem_get_info(device)
        return free, total, f"{device}'s"
    return (*host_memory(), "this machine's")


def need_memory(need: float, what: str, remedy: str, device: torch.device | None = None) -> None:
    """A ConfigError unless `need` bytes (an estimate for `what`) fit in the free memory of `device` (default: the
    host's): "WHAT needs about 78.4 GB of memory, more than the 23.1 GB free of this machine's 24.7 GB; REMEDY"."""
    available, total, whose = device_memory(device)
    if need > available:
        raise ConfigError(
            f"{what} needs about {human(need)} of memory, more than the {human(available)} free of {whose} "
            f"{human(total)}; {remedy}"
        )


def image_bytes(n: int, shape: Sequence[int], element: int = 1) -> int:
    """Bytes of `n` images of `shape` (C, H, W), at `element` bytes a value (1: uint8, FLOAT_BYTES: float)."""
    return n * math.prod(shape) * element


def need_steps(steps: float, what: str, remedy: str) -> None:
    """A ConfigError when a run of `steps` training steps (what `what` implies) could not end: beyond MAX_STEPS."""
    if steps > MAX_STEPS:
        raise ConfigError(
            f"{what} is {steps:.3g} training steps, more than {MAX_STEPS:.0e} (11 days at a millisecond a step); "
            f"{remedy}"
        )
