"""2-D embeddings of a test set (pixels and codes, by PCA and t-SNE), scored so that "which separates the
classes better" is a number: 5-NN accuracy (5-fold cross-validation) and trustworthiness against the pixels."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from deepgen.viz.figures import save_figure

K = 5  # neighbours for both scores
TSNE_INPUT_DIM = 50  # inputs wider than this are reduced by PCA before t-SNE (the usual practice)


@dataclass
class Embedding:
    name: str
    points: np.ndarray  # (N, 2)
    knn_accuracy: float
    trustworthiness: float  # of the 2-D neighbourhoods, relative to the pixels
    seconds: float  # time to compute the 2-D points


def knn_accuracy(points: np.ndarray, labels: np.ndarray, k: int = K, folds: int = 5, seed: int = 0) -> float:
    """Mean accuracy of a k-NN classifier on `points` over shuffled k-fold cross-validation."""
    cv = KFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(KNeighborsClassifier(k), points, labels, cv=cv).mean())


def project(x: np.ndarray, method: str, seed: int) -> np.ndarray:
    """(N, D) -> (N, 2) by "pca" or "tsne" (PCA-initialised; inputs reduced to 50 dimensions first)."""
    if method == "pca":
        return PCA(2, random_state=seed).fit_transform(x)
    if x.shape[1] > TSNE_INPUT_DIM:  # (at most one direction per point: --max-points may be under 50)
        x = PCA(min(TSNE_INPUT_DIM, len(x)), random_state=seed).fit_transform(x)
    perplexity = min(30.0, (len(x) - 1) / 3)
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def compare(pixels: np.ndarray, labels: np.ndarray, codes: dict[str, np.ndarray], seed: int = 0) -> list[Embedding]:
    """PCA and t-SNE of the pixels, then each named set of codes: as they are when 2-D, else by PCA and t-SNE."""
    sources = [("pixels", pixels, "pca"), ("pixels", pixels, "tsne")]
    for name, z in codes.items():
        sources += [(name, z, None)] if z.shape[1] == 2 else [(name, z, "pca"), (name, z, "tsne")]
    out = []
    for name, x, method in sources:
        start = time.perf_counter()
        points = x if method is None else project(x, method, seed)
        seconds = time.perf_counter() - start
        title = f"{name} latent" if method is None else f"{name} · {'t-SNE' if method == 'tsne' else 'PCA'}"
        trust = trustworthiness(pixels, points, n_neighbors=K)
        out.append(Embedding(title, points, knn_accuracy(points, labels, seed=seed), float(trust), seconds))
    return out


def plot(embeddings: list[Embedding], labels: np.ndarray, classes: list[str], path: Path, title: str) -> None:
    """One scatter per embedding, coloured by class, and a last column with the scores and the class legend."""
    n = len(embeddings)
    fig = Figure(figsize=(3.4 * n + 3.2, 3.9))
    axes = fig.subplots(1, n + 1, width_ratios=[1] * n + [0.95])
    cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]
    size = min(12.0, max(2.0, 4000 / len(labels)))  # marker area: larger for few points
    for ax, e in zip(axes, embeddings):
        ax.scatter(*e.points.T, c=labels, cmap=cmap, vmin=-0.5, vmax=cmap.N - 0.5, s=size, alpha=0.7, linewidths=0)
        ax.set_title(f"{e.name}\n{K}-NN acc {e.knn_accuracy:.3f} · trust {e.trustworthiness:.3f}", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    side = axes[-1]
    side.axis("off")
    rows = [[e.name, f"{e.knn_accuracy:.3f}", f"{e.trustworthiness:.3f}"] for e in embeddings]
    table = side.table(
        rows, colLabels=["embedding", f"{K}-NN acc", "trust"], loc="upper center", colWidths=[0.56, 0.22, 0.22]
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7.5)
    table.scale(1, 1.3)
    handles = [Line2D([], [], marker="o", ls="", color=cmap(i), label=c) for i, c in enumerate(classes)]
    side.legend(handles=handles, loc="lower center", ncol=2, fontsize=7.5, frameon=False, title="class")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
