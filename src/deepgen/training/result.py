"""What a training session returns: the run directory, where it stopped, its outputs and held-out metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainResult:
    """`deepgen.train`'s result (and `deepgen train`'s summary): `run` is the run directory, `checkpoint` the newest
    checkpoint, `outputs` the files written by name (samples, loss curves, ...), `metrics` the held-out metrics."""

    run: Path
    step: int
    checkpoint: Path | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    outside_step: float | None = None  # the share of this session's wall time spent outside the training steps
    images_seen: int = 0  # real training images drawn, over every phase and session
    elapsed_s: float = 0.0  # training wall time over every session, as the newest checkpoint records it
    rank: int = 0  # this process's rank under torchrun: rank 0 writes the files and reports them
