"""Figures of image grids."""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from deepgen.viz.figures import save_figure


def show(ax: Axes, image: Tensor, title: str) -> None:
    """A uint8 (C, H, W) grid on `ax`, without ticks."""
    array = image.permute(1, 2, 0).numpy()
    ax.imshow(array[..., 0] if array.shape[2] == 1 else array, cmap="gray", vmin=0, vmax=255)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])


def image_panels(panels: list[tuple[str, Tensor]], path: Path, title: str, width: float = 3.4) -> None:
    """Titled uint8 (C, H, W) grids side by side, `width` inches each (height follows the aspect)."""
    aspect = max(p.shape[1] / p.shape[2] for _, p in panels)
    fig = Figure(figsize=(width * len(panels), width * aspect + 0.8))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (name, image) in zip(axes[0], panels):
        show(ax, image, name)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
