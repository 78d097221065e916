"""Confusion-matrix figures, the scarce-data curve and validation curves under attack, drawn without pyplot (no
global backend is switched)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter
from sklearn.metrics import ConfusionMatrixDisplay

from deepgen.augmentation.curve import Curve
from deepgen.viz.figures import save_figure


def save_confusion(matrix: np.ndarray, classes: list[str], path: Path, title: str) -> None:
    size = max(4.0, 0.45 * len(classes) + 2)
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    ConfusionMatrixDisplay(matrix, display_labels=classes).plot(ax=ax, colorbar=False, values_format="d")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def save_robust_curves(curves: dict[str, list[dict]], path: Path, title: str) -> None:
    """Validation robust (solid) and clean (dashed) accuracy against training steps, a colour per variant: robust
    accuracy that peaks and then falls while training goes on is robust overfitting."""
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.subplots()
    for i, (variant, points) in enumerate(curves.items()):
        steps = [p["step"] for p in points]
        style = {"color": f"C{i}", "marker": "o", "markersize": 2}
        ax.plot(steps, [100 * p["robust"] for p in points], label=f"{variant}: robust", **style)
        ax.plot(steps, [100 * p["clean"] for p in points], linestyle="--", alpha=0.6, label="clean", **style)
    ax.set_xlabel("training step")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def save_curve(panels: dict[str, dict[str, Curve]], path: Path, title: str) -> None:
    """One panel per metric: each variant's mean score against real images per class (log axis), with its 95% CI."""
    fig = Figure(figsize=(6 * len(panels), 4.5))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (metric, by_variant) in zip(axes[0], panels.items()):
        for variant, points in by_variant.items():
            n, mean, half = (np.array(v, dtype=float) for v in zip(*points))
            half = np.nan_to_num(half)
            ax.plot(n, 100 * mean, marker="o", label=variant)
            low, high = np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1)  # a score lies in [0, 1]
            ax.fill_between(n, 100 * low, 100 * high, alpha=0.15)
        ax.set_xscale("log")
        ax.set_xticks(sorted({p[0] for points in by_variant.values() for p in points}))
        ax.get_xaxis().set_major_formatter(ScalarFormatter())
        ax.get_xaxis().set_minor_formatter(NullFormatter())
        ax.set_xlabel("real training images per class")
        ax.set_ylabel(f"test {metric.replace('_', ' ')} (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)

