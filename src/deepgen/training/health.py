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
reads back for the reports. A symptom that goes away is noted ({"step", "health_cleared": SYMPTOM, "message"}), and
at the end of the run each warned symptom's state is recorded ({"step", "health_end": SYMPTOM, "present", "message"}),
so that `episodes` and `verdict` tell a run that recovered (a critic ahead of a fresh generator for a while) from one
that stayed broken. The remedies name the options of the command being run (`deepgen train`: --augment fixed;
`deepgen augment`: --generator-set augment=fixed).
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from deepgen.config import flag
from deepgen.data.imageset import ImageSet, to_float
from deepgen.errors import Note
from deepgen.training.metrics_log import MetricsLog

SATURATED = 0.9
PATIENCE = 5
SPREAD_RATIO = 0.1
GRAD_FACTOR = 100.0
GRAD_WARMUP = 5
SAMPLE_WARMUP = 100  # a freshly initialised generator draws near-constant images
REAL_PER_CLASS = 64

Options = dict[str, str]  # option name -> the value to try ("N": a number of the user's choosing)
Advice = Callable[[Options], str]  # how the command being run takes options, e.g. "--augment fixed"


@dataclass(frozen=True)
class Remedy:
    cause: str
    tries: tuple[tuple[str, Options], ...]  # (what to try, the options that do it)


REMEDIES = {
    "critic_wins": Remedy(
        "the critic is overfitting and the generator gets no useful signal",
        (
            ("differentiable augmentation", {"augment": "fixed", "augment_ops": "translation,color"}),
            ("the LeCam regulariser", {"lecam": "0.1"}),
            ("a lower critic learning rate", {"lr_d": "1e-4"}),
        ),
    ),
    "constant": Remedy(
        "the generator has collapsed to one image",
        (
            ("adaptive augmentation", {"augment": "adaptive"}),
            ("lower learning rates", {"lr_g": "1e-4", "lr_d": "1e-4"}),
        ),
    ),
    "collapse": Remedy(
        "the generator covers few modes",
        (
            ("adaptive augmentation", {"augment": "adaptive"}),
            ("the LeCam regulariser", {"lecam": "0.1"}),
            ("a moving average of the generator", {"ema_decay": "0.999"}),
            ("longer training", {"steps": "N"}),
        ),
    ),
    "exploding_grads": Remedy(
        "gradients are exploding before a NaN",
        (
            ("lower learning rates", {"lr_g": "1e-4", "lr_d": "1e-4"}),
            ("full precision", {"precision": "fp32"}),
            ("an R1 penalty", {"r1_gamma": "1"}),
        ),
    ),
}
EARLY = 0.1  # a symptom in the first tenth of a run's steps is often a phase (a critic ahead of a fresh generator)


def train_flags(options: Options) -> str:
    """How `deepgen train` takes options: --augment fixed --augment-ops translation color."""
    return " ".join(f"{flag(k)} {v.replace(',', ' ')}" for k, v in options.items())


def as_text(value: Any) -> str:
    """An option's value as a remedy writes it (lists comma-separated, numbers short)."""
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def remedy(symptom: str, current: dict[str, Any] | None = None, advice: Advice = train_flags) -> str:
    """What to try against `symptom`, in the flags of the command being run: only what the run's options allow
    (`current`: every option's value; None: any option) and is not already in effect."""
    cause = REMEDIES[symptom]
    tries = [
        f"{what} ({advice(options)})"
        for what, options in cause.tries
        if current is None
        or (set(options) <= set(current) and any(as_text(current[k]) != v for k, v in options.items()))
    ]
    if not tries:
        return cause.cause
    return f"{cause.cause}; try " + (", ".join(tries[:-1]) + " or " if len(tries) > 1 else "") + tries[-1]


class HealthWarning(UserWarning):
    """A symptom of unhealthy training."""


class HealthNote(Note):
    """A symptom that has cleared, or the state of the symptoms at the end of a run."""


@dataclass
class Episode:
    """A symptom of one run: when it was warned, when (if) it cleared, and whether it was there at the end."""

    symptom: str
    step: int
    message: str
    cleared: int | None = None  # the step it last cleared
    at_end: str | None = None  # what it was at the end (None: the run did not finish)
    present: bool = True  # still there at the end (or at the last check)


def episodes(rows: list[dict[str, Any]]) -> list[Episode]:
    """The symptoms recorded in the rows of a run's metrics.jsonl, in the order they were first warned."""
    found: dict[str, Episode] = {}
    for row in rows:
        if "health" in row:
            found.setdefault(row["health"], Episode(row["health"], row["step"], row["message"])).present = True
        elif "health_cleared" in row and row["health_cleared"] in found:
            episode = found[row["health_cleared"]]
            episode.cleared, episode.present = row["step"], False
        elif "health_end" in row and row["health_end"] in found:
            episode = found[row["health_end"]]
            episode.at_end, episode.present = row["message"], row["present"]
    return list(found.values())


def verdict(found: list[Episode]) -> str:
    """healthy (never warned), recovered (every symptom cleared by the end) or broken."""
    if not found:
        return "healthy"
    return "broken" if any(e.present for e in found) else "recovered"


def describe(found: list[Episode]) -> list[str]:
    """One line per symptom: the warning, when it cleared, and what it was at the end."""
    lines = []
    for e in found:
        end = f" At the end: {e.at_end}" if e.at_end else ""
        cleared = f" Cleared at step {e.cleared}." if e.cleared is not None and not e.present else ""
        lines.append(f"{e.message}.{cleared}{end}")
    return lines


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
    training images. Warns when a symptom appears, notes when it clears (the critic: after PATIENCE calm intervals;
    the samples: at the next grid without it) and, at `finish`, what each symptom warned of was at the end. The
    remedies name only options of the run (`options`: every option's value) in the flags of the command being run
    (`advice`); `total`: the run's steps, to tell an early symptom (often a passing phase) from a late one."""

    def __init__(
        self,
        log: MetricsLog,
        real: ImageSet,
        collapse_ratio: float,
        options: dict[str, Any] | None = None,
        advice: Advice = train_flags,
        total: int | None = None,
    ):
        self.log, self.collapse_ratio, self.classes = log, collapse_ratio, real.classes
        self.options, self.advice, self.total = options, advice, total
        self.active: dict[str, bool] = {}  # warned symptoms: present at the last check?
        self.now: dict[str, str] = {}  # each warned symptom's last measurement, in words
        self.wins = self.calm = 0
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
        if share is not None:
            won = share >= SATURATED
            self.wins, self.calm = (self.wins + 1, 0) if won else (0, self.calm + 1)
            odds = f"; D(x) = {row['D/d_real']:.2f}, D(G(z)) = {row['D/d_fake']:.2f}" if "D/d_fake" in row else ""
            self.now["critic_wins"] = f"{share:.0%} of the images scored past the critic's margin{odds}"
            if self.wins >= PATIENCE:
                self.warn(
                    "critic_wins",
                    step,
                    f"the critic has won for {self.wins} logging intervals: {share:.0%} of the images are scored "
                    f"past its loss's margin{odds}",
                )
            elif self.calm >= PATIENCE:
                self.clear("critic_wins", step, f"the critic no longer wins ({self.now['critic_wins']})")
        for key in (k for k in row if k.endswith("/grad_norm")):
            history = self.grads.setdefault(key, [])
            value = row[key]
            if len(history) >= GRAD_WARMUP:
                early = statistics.median(history[:GRAD_WARMUP])
                self.now["exploding_grads"] = f"{key} = {value:.3g}, {value / early:.1f}x its early median"
                if not math.isfinite(value) or value > GRAD_FACTOR * early:
                    self.warn(
                        "exploding_grads",
                        step,
                        f"{key} = {value:.3g} is {value / early:.0f}x its early median {early:.3g}",
                    )
                else:
                    self.clear("exploding_grads", step, f"gradient norms are back ({self.now['exploding_grads']})")
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
        tone = samples.mean().item()
        self.now["constant"] = f"per-pixel spread {row['samples/spread']:.3f} vs {self.real_spread:.3f} for real images"
        if row["samples/spread"] < SPREAD_RATIO * self.real_spread:
            look = " (all black)" if tone < -0.9 else " (all white)" if tone > 0.9 else ""
            self.warn(
                "constant",
                step,
                f"the samples are near-constant{look}: per-pixel spread {row['samples/spread']:.3f} vs "
                f"{self.real_spread:.3f} for real images, mean pixel {tone:.2f}",
            )
            return
        self.clear("constant", step, f"the samples vary again ({self.now['constant']})")
        if labels is not None:
            low = ", ".join(self.classes[c] for c, ratio in ratios.items() if ratio < self.collapse_ratio)
            worst = row["samples/worst_class_diversity"]
            self.now["collapse"] = f"the least diverse class is {worst:.0%} as diverse as its real images"
            if low:
                self.warn(
                    "collapse",
                    step,
                    f"samples of class(es) {low} are under {self.collapse_ratio:.0%} as diverse as real images of "
                    "their class (mode collapse within a class)",
                )
                return
        else:
            self.now["collapse"] = f"samples are {ours / theirs:.0%} as diverse as real images"
            if ours < self.collapse_ratio * theirs:
                self.warn(
                    "collapse",
                    step,
                    f"samples are {ours / theirs:.0%} as diverse as real images (mean pairwise distance {ours:.3f} "
                    f"vs {theirs:.3f}): the generator may have collapsed to a few modes",
                )
                return
        self.clear("collapse", step, f"the samples are diverse again ({self.now['collapse']})")

    def warn(self, symptom: str, step: int, text: str) -> None:
        """Warn of `symptom` unless it is already present (it may come back after clearing)."""
        if self.active.get(symptom):
            return
        again = " again" if symptom in self.active else ""
        self.active[symptom] = True
        early = ""
        if self.total and step < EARLY * self.total:
            early = (
                f" (early: step {step} of {self.total}; this is often a phase that passes, and a note says when "
                "it clears)"
            )
        message = f"step {step}{again}: {text}{early}; {remedy(symptom, self.options, self.advice)}"
        warnings.warn(message, HealthWarning, stacklevel=3)
        self.log.write({"step": step, "health": symptom, "message": message})

    def clear(self, symptom: str, step: int, text: str) -> None:
        """Note that a warned `symptom` is gone."""
        if not self.active.get(symptom):
            return
        self.active[symptom] = False
        message = f"step {step}: cleared: {text}"
        warnings.warn(message, HealthNote, stacklevel=3)
        self.log.write({"step": step, "health_cleared": symptom, "message": message})

    def finish(self, step: int) -> None:
        """Record, for each symptom warned of, what it was at the end of the run and whether it was still there."""
        for symptom, present in self.active.items():
            state = "still there" if present else "gone"
            message = f"{state} at step {step} ({self.now.get(symptom, 'not measured')})"
            self.log.write({"step": step, "health_end": symptom, "present": present, "message": message})
        if self.active:
            broken = [s for s, present in self.active.items() if present]
            summary = f"still present: {', '.join(broken)}" if broken else "every symptom warned of has cleared"
            warnings.warn(f"training health at step {step}: {summary}", HealthNote, stacklevel=2)
