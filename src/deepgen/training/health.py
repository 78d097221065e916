"""The training-health monitor: watches every run at its logging and sample intervals (never per step, so
it adds no host sync) and says, once per symptom, what went wrong, when, and what to try.

  critic_wins      the critic's loss is saturated for PATIENCE logging intervals in a row: at least SATURATED of
                   the images scored past its loss's margin (D/saturation; for bce D(x) > 0.9, D(G(z)) < 0.1).
                   Wasserstein critics have no margin and are not judged (a healthy one separates the two)
  constant         the fixed-noise samples barely vary: their per-pixel spread (standard deviation over the
                   grid, averaged over pixels) is below SPREAD_RATIO of real images' (all black, all grey)
  collapse         the samples are less diverse (mean pairwise distance) than `collapse_ratio` of real images;
                   for conditional models, within any one class against real images of that class
  exploding_grads  a phase's gradient norm exceeds GRAD_FACTOR times its median over the first GRAD_WARMUP
                   logging intervals, or is no longer finite

The sample checks start at step SAMPLE_WARMUP. Each warning is a `HealthWarning` (printed as one plain line
by the CLI) and a row of metrics.jsonl: {"step": S, "health": SYMPTOM, "message": ...}, which `deepgen.run.Run.warnings`
reads back for the reports.
"""

from __future__ import annotations

import math
import statistics
import warnings

import torch
from torch import Tensor

from deepgen.data.imageset import ImageSet, to_float
from deepgen.training.metrics_log import MetricsLog

SATURATED = 0.9
PATIENCE = 5
SPREAD_RATIO = 0.1
GRAD_FACTOR = 100.0
GRAD_WARMUP = 5
SAMPLE_WARMUP = 100  # a freshly initialised generator draws near-constant images
REAL_PER_CLASS = 64

REMEDIES = {
    "critic_wins": "the critic is overfitting and the generator gets no useful signal; turn on differentiable "
    "augmentation (--augment fixed --augment-ops translation color), add --lecam 0.1, or lower --lr-d",
    "constant": "the generator has collapsed to one image; turn on --augment adaptive, lower --lr-d or --lr-g, "
    "or restart with another --seed",
    "collapse": "the generator covers few modes; turn on --augment adaptive, add --lecam 0.1 or --ema-decay 0.999, "
    "or train longer",
    "exploding_grads": "gradients are exploding before a NaN; lower --lr-g/--lr-d, use --precision fp32, or add "
    "--r1-gamma or a gradient penalty",
}


class HealthWarning(UserWarning):
    """A symptom of unhealthy training."""


def diversity(images: Tensor) -> float:
    """Mean pairwise distance between images, as root-mean-square difference per pixel."""
    flat = images.flatten(1).float()
    n = len(flat)
    return (torch.cdist(flat, flat).sum() / (n * (n - 1))).item() / flat.shape[1] ** 0.5


def spread(images: Tensor) -> float:
    """Per-pixel standard deviation over the images, averaged over pixels."""
    return images.float().std(0).mean().item()


class HealthMonitor:
    """Checks logged rows (`check_row`) and fixed-noise samples (`check_samples`) of one run against `real`
    training images; warns once per symptom."""

    def __init__(self, log: MetricsLog, real: ImageSet, collapse_ratio: float):
        self.log, self.collapse_ratio, self.classes = log, collapse_ratio, real.classes
        self.warned: set[str] = set()
        self.wins = 0
        self.grads: dict[str, list[float]] = {}
        g = torch.Generator().manual_seed(0)
        sample = to_float(real.images[torch.randperm(len(real), generator=g)[: REAL_PER_CLASS * 4]])
        self.real_spread, self.real_diversity = spread(sample), diversity(sample)
        self.class_diversity: dict[int, float] = {}
        for c in range(len(real.classes)):
            members = real.images[real.labels == c][:REAL_PER_CLASS]
            if len(members) > 1:
                self.class_diversity[c] = diversity(to_float(members))

    def check_row(self, row: dict[str, float]) -> None:
        """The critic-winning and gradient checks on one logged row (means over a logging interval)."""
        step = int(row["step"])
        share = row.get("D/saturation")
        self.wins = self.wins + 1 if share is not None and share >= SATURATED else 0
        if self.wins >= PATIENCE:
            odds = f"; D(x) = {row['D/d_real']:.2f}, D(G(z)) = {row['D/d_fake']:.2f}" if "D/d_fake" in row else ""
            self.warn(
                "critic_wins",
                step,
                f"the critic has won for {self.wins} logging intervals: {share:.0%} of the images are scored past "
                f"its loss's margin{odds}",
            )
        for key in (k for k in row if k.endswith("/grad_norm")):
            history = self.grads.setdefault(key, [])
            value = row[key]
            if len(history) >= GRAD_WARMUP:
                early = statistics.median(history[:GRAD_WARMUP])
                if not math.isfinite(value) or value > GRAD_FACTOR * early:
                    self.warn(
                        "exploding_grads",
                        step,
                        f"{key} = {value:.3g} is {value / early:.0f}x its early median {early:.3g}",
                    )
            history.append(value)

    def check_samples(self, step: int, samples: Tensor, labels: Tensor | None = None) -> None:
        """The constant-sample and collapse checks on a grid of samples in [-1, 1] (of classes `labels`)."""
        ours, theirs = diversity(samples), self.real_diversity
        row = {"step": step, "samples/diversity": ours, "samples/real_diversity": theirs}
        row |= {"samples/spread": spread(samples), "samples/real_spread": self.real_spread}
        if labels is not None:
            ratios = {
                c: diversity(samples[labels == c]) / ref
                for c, ref in self.class_diversity.items()
                if (labels == c).sum() > 1 and ref > 0
            }
            row["samples/worst_class_diversity"] = min(ratios.values(), default=1.0)
        self.log.write(row)
        if step < SAMPLE_WARMUP:
            return
        if row["samples/spread"] < SPREAD_RATIO * self.real_spread:
            tone = samples.mean().item()
            look = " (all black)" if tone < -0.9 else " (all white)" if tone > 0.9 else ""
            self.warn(
                "constant",
                step,
                f"the samples are near-constant{look}: per-pixel spread {row['samples/spread']:.3f} vs "
                f"{self.real_spread:.3f} for real images, mean pixel {tone:.2f}",
            )
        elif labels is not None:
            low = ", ".join(self.classes[c] for c, ratio in ratios.items() if ratio < self.collapse_ratio)
            if low:
                self.warn(
                    "collapse",
                    step,
                    f"samples of class(es) {low} are under {self.collapse_ratio:.0%} as diverse as real images of "
                    "their class (mode collapse within a class)",
                )
        elif ours < self.collapse_ratio * theirs:
            self.warn(
                "collapse",
                step,
                f"samples are {ours / theirs:.0%} as diverse as real images (mean pairwise distance {ours:.3f} vs "
                f"{theirs:.3f}): the generator may have collapsed to a few modes",
            )

    def warn(self, symptom: str, step: int, text: str) -> None:
        if symptom in self.warned:
            return
        self.warned.add(symptom)
        message = f"step {step}: {text}; {REMEDIES[symptom]}"
        warnings.warn(message, HealthWarning, stacklevel=3)
        self.log.write({"step": step, "health": symptom, "message": message})
