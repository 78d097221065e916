"""Loss logging without a host sync per step: values stay on the device until a flush."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from deepgen.errors import NonFiniteLossError
from deepgen.io import atomic_write_text, to_json, writing
from deepgen.run import METRICS, read_jsonl
from deepgen.training.distributed import SINGLE, World, mean

EXPLODED = 1e10  # a loss this large means training has diverged (losses of healthy runs stay far below)


class MetricsLog:
    """Collects per-step loss terms and writes their means (over steps and processes) to metrics.jsonl and
    TensorBoard on `flush`.

    On resume, rows after `start_step` (written after the checkpoint) are discarded.
    """

    def __init__(self, run: Path, start_step: int, tensorboard: bool, world: World = SINGLE):
        self.path, self.world, self.tb = run / METRICS, world, None
        self.pending: list[tuple[int, dict[str, Tensor], dict[str, Tensor]]] = []
        if not world.main:
            return
        rows = [r for r in read_jsonl(self.path) if r.get("step", 0) <= start_step]
        atomic_write_text(self.path, "".join(to_json(r) + "\n" for r in rows))
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run / "tb"), purge_step=start_step + 1 if start_step else None)

    def record(self, step: int, terms: dict[str, Tensor], stats: dict[str, Tensor]) -> None:
        """Keep this step's loss terms (checked for finiteness) and stats (logged only)."""
        self.pending.append((step, terms, stats))

    def flush(self, extra: dict[str, float]) -> dict[str, float]:
        """Write the means since the last flush; raise NonFiniteLossError naming the first step with a non-finite or
        exploded loss."""
        if not self.pending:
            return {}
        flat = [v.detach().float().reshape(()) for _, t, s in self.pending for v in (*t.values(), *s.values())]
        values = iter(mean(torch.stack(flat), self.world).tolist())  # the one device-to-host copy
        rows = [(step, {k: next(values) for k in t}, {k: next(values) for k in s}) for step, t, s in self.pending]
        self.pending.clear()
        for step, terms, _ in rows:
            if not all(math.isfinite(v) and abs(v) <= EXPLODED for v in terms.values()):
                kind = (
                    "non-finite" if not all(map(math.isfinite, terms.values())) else f"exploded (|loss| > {EXPLODED:g})"
                )
                raise NonFiniteLossError(
                    f"{kind} loss at step {step}: " + ", ".join(f"{k}={v:.4g}" for k, v in terms.items())
                )
        means: dict[str, list[float]] = {}
        for _, terms, stats in rows:
            for k, v in (*terms.items(), *stats.items()):
                means.setdefault(k, []).append(v)
        row = {"step": rows[-1][0], **{k: sum(v) / len(v) for k, v in means.items()}, **extra}
        self.write(row)
        return row

    def write(self, row: dict[str, float]) -> None:
        """Append one row (with its "step") to metrics.jsonl and TensorBoard (rank 0 only)."""
        if not self.world.main:
            return
        with writing(self.path), open(self.path, "a") as f:
            f.write(to_json(row) + "\n")
        if self.tb is not None:
            for k, v in row.items():
                if k != "step":
                    (self.tb.add_text if isinstance(v, str) else self.tb.add_scalar)(k, v, row["step"])

    def add_image(self, tag: str, grid: Tensor, step: int) -> None:
        if self.tb is not None:
            self.tb.add_image(tag, grid, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
