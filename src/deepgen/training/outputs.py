"""What a run writes besides its checkpoints: fixed-noise sample and reconstruction grids (checked by the health
monitor), and at the end the held-out metrics and loss curves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from deepgen.data.imageset import ImageSet, to_uint8
from deepgen.io import update_json
from deepgen.models.base import GenerativeModel
from deepgen.run import METRICS, RESULTS, read_jsonl
from deepgen.training.health import HealthMonitor
from deepgen.training.metrics_log import MetricsLog
from deepgen.training.result import TrainResult
from deepgen.viz.curves import plot_losses
from deepgen.viz.grids import class_grid, grid, reconstruction_grid, save_png

GRID_SIZE = 64  # samples in a grid (a conditional one: a row of at most ROW per class, within GRID_SIZE)
ROW = 16


@dataclass
class RunOutputs:
    """The outputs of run directory `run`; their paths go into `result.outputs`."""

    run: Path
    log: MetricsLog
    health: HealthMonitor
    fixed_x: Tensor  # the test images that every reconstruction grid shows
    seed: int  # of the fixed noise
    result: TrainResult

    def grids(self, model: GenerativeModel, step: int, name: str = "") -> None:
        """Fixed-noise samples (a row per class when conditional) and reconstructions of the fixed test
        batch, named after the step or `name`; the health monitor checks the samples. Touches no global RNG."""
        outputs, stem = self.result.outputs, name or f"step_{step:06d}"
        model.eval()
        with torch.no_grad():
            if model.can_sample:
                k = len(model.classes) if model.conditional else 0
                per_class = min(GRID_SIZE // k, ROW) if k else 0
                labels = torch.arange(per_class * k) // per_class if k else None
                n = GRID_SIZE if labels is None else len(labels)
                samples = model.sample(n, generator=torch.Generator().manual_seed(self.seed), labels=labels)
                image = grid(to_uint8(samples)) if labels is None else class_grid(to_uint8(samples), labels)
                outputs["samples"] = self.run / "samples" / f"{stem}.png"
                save_png(image, outputs["samples"])
                self.log.add_image("samples", image, step)
                self.health.check_samples(step, samples.cpu(), labels)
            if model.can_encode:
                image = reconstruction_grid(self.fixed_x, model.reconstruct(self.fixed_x))
                outputs["reconstructions"] = self.run / "samples" / f"recon_{stem}.png"
                save_png(image, outputs["reconstructions"])
                self.log.add_image("reconstructions", image, step)
        model.train()

    def finish(self, model: GenerativeModel, step: int, test: ImageSet) -> None:
        """End-of-run outputs: grids, held-out metrics, the share of this session's training time spent outside
        the training steps (logging, grids, checkpoints, stop checks), loss curves."""
        result = self.result
        self.grids(model, step)
        self.health.finish(step)
        model.eval()
        metrics = model.evaluate(test)
        held_out = {"split": "test", "n_images": len(test), **metrics} if metrics else {}
        summary = {"step": step, "outside_step_fraction": round(result.outside_step or 0.0, 4), **held_out}
        update_json(self.run / RESULTS, lambda results: results.update(summary))  # keeps what deepgen eval wrote
        result.outputs["metrics"] = self.run / RESULTS
        result.metrics = metrics
        plot_losses(read_jsonl(self.run / METRICS), self.run / "loss_curves.png", f"{model.name}: losses")
        result.outputs["loss curves"] = self.run / "loss_curves.png"
