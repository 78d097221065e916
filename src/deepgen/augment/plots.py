"""Confusion-matrix figures and the scarce-data curve."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

from deepgen.augment.curve import Curve  # noqa: E402
from deepgen.io import atomic_write_bytes  # noqa: E402


def save_confusion(matrix: np.ndarray, classes: list[str], path: Path, title: str) -> None:
    size = max(4.0, 0.45 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay(matrix, display_labels=classes).plot(ax=ax, colorbar=False, values_format="d")
    ax.set_title(title, fontsize=10)
    save(fig, path)


def save_curve(panels: dict[str, dict[str, Curve]], path: Path, title: str) -> None:
    """One panel per metric: each variant's mean score against real images per class (log axis), with its 95% CI."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, (metric, by_variant) in zip(axes[0], panels.items()):
        for variant, points in by_variant.items():
            n, mean, half = (np.array(v, dtype=float) for v in zip(*points))
            half = np.nan_to_num(half)
            ax.plot(n, 100 * mean, marker="o", label=variant)
            ax.fill_between(n, 100 * (mean - half), 100 * (mean + half), alpha=0.15)
        ax.set_xscale("log")
        ax.set_xticks(sorted({p[0] for points in by_variant.values() for p in points}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("real training images per class")
        ax.set_ylabel(f"test {metric.replace('_', ' ')} (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    save(fig, path)


def save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
