"""Folders of image files: one sub-folder per class, any common format, mode or size."""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from deepgen.config import MAX_AUTO_SIZE
from deepgen.data.imageset import ImageSet, resize
from deepgen.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def image_files(directory: Path) -> list[Path]:
    """Image files directly in `directory` (any case of a known suffix), sorted by name."""
    return sorted(
        p for p in directory.iterdir() if (p.is_file() or p.is_symlink()) and p.suffix.lower() in IMAGE_SUFFIXES
    )  # a dangling link is an image the reader reports as unreadable, not one silently missing


def read_class_folder(root: str | Path, size: int, channels: int | None, fit: str = "crop") -> ImageSet:
    """Read `root/<class>/<image>` into an ImageSet; class names are the sorted sub-folder names."""
    root = existing_dir(root)
    class_dirs, files, labels = class_files(root)
    images, ok = read_images(files, size, channels, root, fit)
    labels_t = torch.tensor(labels)[ok]
    for label, d in enumerate(class_dirs):
        if not (labels_t == label).any():
            raise DataError(f"class folder {d} has no readable images")
    return ImageSet(images, labels_t, [d.name for d in class_dirs])


def class_files(root: Path) -> tuple[list[Path], list[Path], list[int]]:
    """The class sub-folders of `root` (sorted by name), their image files and each file's class index."""
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    hidden = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name.startswith("."))
    if hidden:
        warnings.warn(f"ignored hidden folder(s) {', '.join(hidden)} in {root}: they are not classes", stacklevel=2)
    if not class_dirs:
        raise DataError(
            f"{root} has no class sub-folders; expected one sub-folder per class, "
            f"e.g. {root}/yes/scan1.jpg and {root}/no/scan2.jpg"
        )
    files, labels = [], []
    for label, d in enumerate(class_dirs):
        found = image_files(d)
        if not found:
            raise DataError(f"class folder {d} has no images (expected {', '.join(sorted(IMAGE_SUFFIXES))})")
        files += found
        labels += [label] * len(found)
    return class_dirs, files, labels


def class_folder_size(root: str | Path, fit: str = "crop") -> tuple[int, str]:
    """The image size a class folder is read at when --image-size is not given, and why.

    The images' own size when they all share one, else the most common width x height (ties: the larger
    area), never above MAX_AUTO_SIZE. A width x height gives its shorter side under fit="crop" and its
    longer side under fit="pad", so that images of that size are neither enlarged nor shrunk. Only the
    file headers are read; unreadable files are left to the reader to report.
    """
    root = existing_dir(root)
    _, files, _ = class_files(root)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        sizes = Counter(s for s in pool.map(header_size, files) if s is not None)
    if not sizes:
        raise DataError(f"none of the {len(files)} image files in {root} could be read")
    (w, h), count = max(sizes.items(), key=lambda item: (item[1], item[0][0] * item[0][1]))
    size = min(w, h) if fit == "crop" else max(w, h)
    why = f"every image is {w}x{h}"
    if len(sizes) > 1:
        why = f"{count} of {sum(sizes.values())} images are {w}x{h}, the most common of {len(sizes)} sizes"
    if size > MAX_AUTO_SIZE:
        size, why = MAX_AUTO_SIZE, f"{why}; capped at {MAX_AUTO_SIZE} px"
    return size, why


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from an image file's header, or None if it cannot be read."""
    found = header(path)
    return found[0] if found else None


def header(path: Path) -> tuple[tuple[int, int], str] | None:
    """((width, height), mode) from an image file's header, or None if it cannot be read."""
    try:
        with Image.open(path) as img:
            return img.size, img.mode
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def class_folder_channels(root: str | Path) -> tuple[int, str | None]:
    """The channels a class folder is read at when --channels is not given, and why when its images mix grey and
    colour modes (None when they do not); see `choose_channels`. Only headers are read, and colour images only
    while the choice depends on them."""
    root = existing_dir(root)
    _, files, _ = class_files(root)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        found = [(f, h[1]) for f, h in zip(files, pool.map(header, files)) if h is not None]
    if not found:
        raise DataError(f"none of the {len(files)} image files in {root} could be read")
    return choose_channels([mode for _, mode in found], lambda i: colourful(open_image(found[i][0])[0]))


def choose_channels(modes: list[str], colour: Callable[[int], bool]) -> tuple[int, str | None]:
    """1 or 3 channels for images of these PIL `modes`: the majority's (grey on a tie only if no image is in
    colour), and grey when no image in a colour mode has colour (`colour(i)`: image i's channels differ); with
    why, when grey and colour modes are mixed."""
    counts = Counter(modes)
    grey = sum(n for mode, n in counts.items() if mode in GRAYSCALE_MODES)
    if grey == len(modes):
        return 1, None
    listing = ", ".join(f"{n} {mode}" for mode, n in counts.most_common())
    if grey > len(modes) - grey:
        return 1, f"{grey} of {len(modes)} images are grey ({listing}), the colour ones are converted to grey"
    if not any(colour(i) for i, mode in enumerate(modes) if mode not in GRAYSCALE_MODES):
        return 1, f"every image is grey, stored as {listing}"
    if not grey:
        return 3, None
    return 3, f"{len(modes) - grey} of {len(modes)} images are in colour ({listing}), the grey ones are repeated"


def colourful(img: Image.Image | None) -> bool:
    """Whether an image's red, green and blue channels differ anywhere (unreadable: no)."""
    if img is None:
        return False
    rgb = TF.pil_to_tensor(img.convert("RGB"))
    return not (torch.equal(rgb[0], rgb[1]) and torch.equal(rgb[1], rgb[2]))


def read_flat_folder(root: str | Path, size: int, channels: int | None, class_name: str, fit: str = "crop") -> ImageSet:
    """Read every image directly in `root` as one class."""
    root = existing_dir(root)
    files = image_files(root)
    if not files:
        raise DataError(f"{root} has no images (expected {', '.join(sorted(IMAGE_SUFFIXES))})")
    images, _ = read_images(files, size, channels, root, fit)
    return ImageSet(images, torch.zeros(len(images), dtype=torch.long), [class_name])


def existing_dir(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"image folder {path} does not exist")
    if not path.is_dir():
        raise DataError(f"{path} is not a folder; expected a folder with one sub-folder of images per class")
    return path


def read_images(
    files: list[Path], size: int, channels: int | None, root: Path, fit: str = "crop"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode, convert and resize `files` in parallel.

    Unreadable files are skipped with one warning that lists them all. Returns the uint8 images
    and a boolean mask of which files were kept. `channels=None` picks them as `choose_channels` does.
    """
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        decoded = list(pool.map(open_image, files))
    bad = [(f, err) for f, (img, err) in zip(files, decoded) if img is None]
    if bad:
        listing = "\n".join(f"  {f}: {err}" for f, err in bad)
        warnings.warn(
            f"skipped {len(bad)} unreadable image file(s) of {len(files)} in {root}:\n{listing}", stacklevel=2
        )
    good = [img for img, _ in decoded if img is not None]
    if not good:
        raise DataError(f"none of the {len(files)} image files in {root} could be read")
    if channels is None:
        channels, _ = choose_channels([img.mode for img in good], lambda i: colourful(good[i]))
    mode = "L" if channels == 1 else "RGB"
    images = torch.cat([resize(TF.pil_to_tensor(img.convert(mode))[None], size, fit) for img in good])
    return images, torch.tensor([img is not None for img, _ in decoded])


def open_image(path: Path) -> tuple[Image.Image | None, str]:
    """Fully decode one image; return (None, reason) instead of raising."""
    try:
        with Image.open(path) as img:
            img.load()
            return (
                img.convert("I").point(lambda v: v / 256).convert("L") if img.mode.startswith("I;16") else img.copy()
            ), ""
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        return None, f"{type(e).__name__}: {e}"
