"""Writing generated images: a folder of PNGs (a sub-folder per class when labelled), one grid PNG,
or an .npz of uint8 arrays."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm.auto import tqdm

from deepgen.data.imageset import to_float, to_uint8
from deepgen.errors import CheckpointError, ConfigError
from deepgen.footprint import GENERATION_BATCH
from deepgen.io import atomic_write_bytes
from deepgen.models.base import GenerativeModel
from deepgen.run import run_holding
from deepgen.viz.grids import FORMATS, class_grid, grid, save_png


@torch.no_grad()
def generate(
    model: GenerativeModel,
    n: int,
    seed: int,
    labels: Tensor | None = None,
    batch_size: int = GENERATION_BATCH,
    progress: str | None = None,
) -> Tensor:
    """`n` samples (of the classes `labels`, for conditional models) as uint8 (N, C, H, W); seeded. `progress`
    names a progress bar (on stderr)."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    chunks = []
    with tqdm(total=n, desc=progress, unit="img", dynamic_ncols=True, disable=progress is None) as bar:
        for i in range(0, n, batch_size):
            part = None if labels is None else labels[i : i + batch_size]
            chunks.append(to_uint8(model.sample(min(batch_size, n - i), generator=g, labels=part)).cpu())
            bar.update(len(chunks[-1]))
    return torch.cat(chunks)


@torch.no_grad()
def vary_images(
    model: GenerativeModel,
    images: Tensor,
    strength: float,
    seed: int,
    labels: Tensor | None = None,
    batch_size: int = 500,
) -> Tensor:
    """Variations (model.vary) of uint8 real `images` (of the classes `labels`, when known) as uint8; seeded."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    chunks = []
    for i in range(0, len(images), batch_size):
        x = to_float(images[i : i + batch_size].to(model.device))
        part = None if labels is None else labels[i : i + batch_size].to(model.device)
        chunks.append(to_uint8(model.vary(x, strength, generator=g, labels=part)).cpu())
    return torch.cat(chunks)


def balanced_labels(num_classes: int, per_class: int) -> Tensor:
    """0, 0, ..., 1, 1, ...: `per_class` of each class."""
    return torch.arange(num_classes).repeat_interleave(per_class)


def write_samples(images: Tensor, out: Path, labels: Tensor | None = None, classes: list[str] | None = None) -> Path:
    """Save uint8 images to `out`: *.npz (images, labels, class names), *.png or *.jpg (one grid; a row per class when
    `labels` are given) or a folder of numbered PNGs, in a sub-folder per class when `labels` are given. Never
    overwrites a file (see output_files)."""
    files = output_files(out, len(images), labels, classes)
    if out.suffix.lower() == ".npz":
        arrays = {"images": images.numpy()}
        if labels is not None:
            arrays |= {"labels": labels.numpy(), "classes": np.array(classes)}
        buffer = BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(out, buffer.getvalue())
    elif out.suffix.lower() in FORMATS:
        save_png(grid(images) if labels is None else class_grid(images, labels), out)
    else:
        write_all(images, files)
    return out


def write_all(images: Tensor, files: list[Path]) -> None:
    """One PNG per image; if any cannot be written (a full disk) or the writing is stopped, the files and folders
    written so far are removed again, so that no partial output is left behind."""
    folders = sorted({d for f in files for d in (f.parent, *f.parent.parents) if not d.exists()}, reverse=True)
    written = []
    try:
        for image, path in zip(images, files):
            save_png(image, path)
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        for folder in folders:  # deepest first; only the empty ones made here
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise


def output_files(
    out: Path, n: int, labels: Tensor | None = None, classes: list[str] | None = None, name: str = "{:06d}.png"
) -> list[Path]:
    """The files written for `n` images: `out` itself (*.npz, *.png, *.jpg) or out/`name` numbered (NNNNNN.png), in a
    sub-folder per class when `labels` are given. A ConfigError when `out` lies under a file, is a file but not
    *.npz/*.png, lies in a run directory, or any of the files exists already (an output folder's other files are
    never touched)."""
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"--out {out} lies under {parent}, which is a file, not a folder")
    run = run_holding(out.absolute())
    if run is not None:
        raise ConfigError(
            f"--out {out} lies in the run directory {run}; write samples outside it (e.g. {run.name}-samples)"
        )
    if out.suffix.lower() in (".npz", *FORMATS):
        files = [out]
    elif out.suffix.lower() in Image.registered_extensions():
        raise ConfigError(
            f"--out {out}: deepgen writes a folder, FILE.png or FILE.jpg (a grid) or FILE.npz, not {out.suffix} files"
        )
    elif out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder, FILE.png or FILE.jpg (a grid) or FILE.npz")
    elif labels is None:
        files = [out / name.format(i) for i in range(n)]
    else:
        folders = class_folders(classes or [])
        files = [out / folders[int(c)] / name.format(i) for i, c in enumerate(labels)]
    taken = [f for f in files if f.exists() or f.is_symlink()]
    if taken:
        more = f" and {len(taken) - 1} more" if len(taken) > 1 else ""
        raise ConfigError(
            f"--out {out}: {taken[0]}{more} {'exist' if more else 'exists'} already; deepgen never overwrites "
            f"{'them' if more else 'it'}: choose a new --out"
        )
    return files


def class_folders(classes: list[str]) -> list[str]:
    """One folder name per class ('T-shirt/top' -> 'T-shirt_top'); a CheckpointError for names that cannot be a
    folder inside the output ('', '.', '..') or that two classes would share."""
    names = ["".join("_" if c in "/\\" or not c.isprintable() else c for c in name) for name in classes]
    bad = [c for c, name in zip(classes, names) if name in ("", ".", "..")]
    if bad or len(set(names)) != len(names):
        raise CheckpointError(
            f"class names {bad or classes} (from the checkpoint) cannot each name a folder of their own; "
            "sample to FILE.npz instead"
        )
    return names
