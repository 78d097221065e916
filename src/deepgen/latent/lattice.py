"""A lattice of codes over the part of a 2-D latent plane that the data (or the prior) occupies, for decoding
into a manifold grid. The plane is the latent space itself when it is 2-D, else its first two principal
directions (of the encoded test set, or of prior draws for models without an encoder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from torch import Tensor

from deepgen.latent.figures import show
from deepgen.viz.figures import save_figure


@dataclass
class Lattice:
    codes: Tensor  # (n * n, D), row by row from the top: the second coordinate falls down the rows
    u: np.ndarray  # (n,) first coordinate of each column
    v: np.ndarray  # (n,) second coordinate of each row, highest first
    axes: tuple[str, str]
    span: str  # how the range was chosen
    explained_variance: list[float] | None  # share of the codes' variance on each direction (PCA planes)


def lattice(
    codes: np.ndarray, n: int, quantiles: tuple[float, float] = (0.025, 0.975), prior: np.ndarray | None = None
) -> Lattice:
    """An n x n lattice spanning the `quantiles` of `codes` along each direction of the plane, or the mean
    ± 2 standard deviations of `prior` draws projected on that plane when `prior` is given."""
    if codes.shape[1] == 2:
        centre, directions, explained, axes = np.zeros(2), np.eye(2), None, ("z1", "z2")
    else:
        pca = PCA(2).fit(codes)
        centre, directions, axes = pca.mean_, pca.components_, ("PC1", "PC2")
        explained = [round(float(r), 4) for r in pca.explained_variance_ratio_]
    if prior is None:
        lo, hi = np.quantile((codes - centre) @ directions.T, quantiles, axis=0)
        span = f"quantiles {quantiles[0]:g}-{quantiles[1]:g} of the encoded test set"
    else:
        p = (prior - centre) @ directions.T
        lo, hi = p.mean(0) - 2 * p.std(0), p.mean(0) + 2 * p.std(0)
        span = "prior mean ± 2 sd"
    u, v = np.linspace(lo[0], hi[0], n), np.linspace(hi[1], lo[1], n)
    uu, vv = np.meshgrid(u, v)
    points = centre + uu.reshape(-1, 1) * directions[0] + vv.reshape(-1, 1) * directions[1]
    return Lattice(torch.from_numpy(points).float(), u, v, axes, span, explained)


def plot(lat: Lattice, image: Tensor, path: Path, title: str) -> None:
    """The decoded lattice (a uint8 grid image) with the coordinates of its first and last rows and columns."""
    fig = Figure(figsize=(7, 7.4))
    ax = fig.subplots()
    show(ax, image, f"{title}\n{lat.span}")
    n, size = len(lat.u), image.shape[-1]
    centres = 1 + (size - 2) / n * (np.arange(n) + 0.5)  # grid() pads 2 px around each image
    ax.set_xticks(centres[[0, -1]], [f"{lat.u[0]:.2f}", f"{lat.u[-1]:.2f}"])
    ax.set_yticks(centres[[0, -1]], [f"{lat.v[0]:.2f}", f"{lat.v[-1]:.2f}"])
    ax.set_xlabel(lat.axes[0]), ax.set_ylabel(lat.axes[1])
    fig.tight_layout()
    save_figure(fig, path)
