"""Dataset sources, read offline from their standard on-disk formats (torchvision's layout). The table imports no
torch (its readers do, when called), so that `deepgen datasets` starts at once."""

from __future__ import annotations

import gzip
import io
import math
import pickle
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deepgen.config import MAX_AUTO_SIZE, DataConfig
from deepgen.errors import DataError

if TYPE_CHECKING:
    import torch

    from deepgen.data.imageset import ImageSet


@dataclass(frozen=True)
class Source:
    description: str
    read: Callable[[DataConfig], tuple[ImageSet, ImageSet | None]]  # (train, official test split or None)
    image_size: int  # the size images are read at unless --image-size (or `measure`) says otherwise
    offline: bool = False  # ships with deepgen
    measure: Callable[[DataConfig], tuple[int, str]] | None = None  # size from the files, and why (folders)
    channels: Callable[[DataConfig], tuple[int, str | None]] | None = None  # channels from the files, why if mixed


def read_idx(path: Path, ndim: int | None = None, what: str = "data") -> np.ndarray:
    """Read an IDX file of unsigned bytes (the MNIST format), plain or gzipped, that should hold `what` (named in
    errors) of `ndim` dimensions (any, if None)."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3] if ndim is None else ndim
    if data[3] != ndim:
        raise DataError(
            f"{path} holds {data[3]}-dimensional data; expected {what} ({ndim} dimensions): are the images and "
            "labels files swapped?"
        )
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path} is truncated: its header needs {4 + 4 * ndim} bytes, the file has {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != math.prod(dims):
        raise DataError(f"{path} is truncated: header says {dims}, found {body.size} bytes of data")
    if body.size == 0:
        raise DataError(f"{path} holds no {what} (header says {dims})")
    return body.reshape(dims)


def idx_pair(folder: Path, prefix: str, classes: list[str]) -> ImageSet:
    images_file, labels_file = (
        find_file(folder, f"{prefix}-images-idx3-ubyte"),
        find_file(folder, f"{prefix}-labels-idx1-ubyte"),
    )
    images = read_idx(images_file, 3, "images (N, rows, columns)")
    labels = read_idx(labels_file, 1, "labels (N,)")
    if len(images) != len(labels):
        raise DataError(f"{folder}: {len(images)} {prefix} images but {len(labels)} labels")
    import torch

    return labelled(torch.from_numpy(images.copy()).unsqueeze(1), labels, classes, labels_file)


def labelled(images: torch.Tensor, labels: np.ndarray, classes: list[str], where: Path) -> ImageSet:
    """An ImageSet, once the labels (read from `where`) are known to index `classes`."""
    import torch

    from deepgen.data.imageset import ImageSet

    if labels.size and not 0 <= labels.min() <= labels.max() < len(classes):
        raise DataError(f"{where} has labels {labels.min()} ... {labels.max()}; expected 0 ... {len(classes) - 1}")
    return ImageSet(images, torch.from_numpy(labels.astype(np.int64)), classes)


def find_file(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(folder / name)


def missing(name: str, folder: Path, expected: str) -> DataError:
    return DataError(
        f"{name}: files not found in {folder} (expected {expected}). Put them there, point --data-root "
        f"at the folder that holds them, or add --download to fetch them."
    )


def root_of(cfg: DataConfig) -> Path:
    return Path(cfg.data_root).expanduser()


DIGITS = [str(i) for i in range(10)]
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def mnist_like(name: str, folder_name: str, classes: list[str], dataset_class: str) -> Callable:
    def read(cfg: DataConfig) -> tuple[ImageSet, ImageSet]:
        folder = root_of(cfg) / folder_name / "raw"
        if cfg.download:
            download(dataset_class, root_of(cfg))
        try:
            return idx_pair(folder, "train", classes), idx_pair(folder, "t10k", classes)
        except FileNotFoundError:
            raise missing(
                name, folder, "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-* (optionally .gz)"
            ) from None

    return read


def download(dataset_class: str, root: Path, **kwargs: object) -> None:
    """Fetch a dataset with torchvision into `root` (torchvision's own layout)."""
    import torchvision.datasets

    try:
        getattr(torchvision.datasets, dataset_class)(str(root), download=True, **kwargs)
    except Exception as e:  # network errors come in many types
        raise DataError(f"downloading {dataset_class} into {root} failed: {e}") from None


def read_mnist10k(cfg: DataConfig) -> tuple[ImageSet, None]:
    folder = resources.files("deepgen.data") / "mnist10k"
    with resources.as_file(folder) as path:
        return idx_pair(Path(path), "t10k", DIGITS), None


def read_digits(cfg: DataConfig) -> tuple[ImageSet, None]:
    import torch
    from sklearn.datasets import load_digits

    from deepgen.data.imageset import ImageSet

    bunch = load_digits()
    images = torch.from_numpy(np.rint(bunch.images * (255 / 16)).astype(np.uint8)).unsqueeze(1)
    return ImageSet(images, torch.from_numpy(bunch.target), DIGITS), None


class CifarUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches (dicts of bytes, lists and numpy arrays) and nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes in protocol-2 pickles
    }

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path: Path, keys: tuple[str, ...]) -> dict:
    """A CIFAR-10 python pickle, as a dict that has `keys`."""
    try:
        batch = CifarUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except Exception as e:  # a damaged pickle can fail in many ways; the unpickler itself only builds plain data
        reason = e if isinstance(e, pickle.UnpicklingError) else f"{type(e).__name__}: {e}"
        raise DataError(f"{path} is not a CIFAR-10 python batch: {reason}") from None
    if not isinstance(batch, dict) or not all(k in batch for k in keys):
        raise DataError(f"{path} is not a CIFAR-10 python batch: expected a dict with {', '.join(keys)}")
    return batch


def cifar_classes(path: Path) -> list[str]:
    names = read_cifar_batch(path, ("label_names",))["label_names"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DataError(f"{path}: expected 'label_names' to be a list of class names, got {names!r:.80}")
    return names


def cifar_images(path: Path, classes: list[str]) -> ImageSet:
    """The 32 x 32 RGB images and labels of one CIFAR-10 batch file."""
    batch = read_cifar_batch(path, ("data", "labels"))
    try:
        data = np.asarray(batch["data"])
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as e:
        raise DataError(f"{path}: 'data' or 'labels' are not arrays of numbers ({e})") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (len(data),):
        raise DataError(
            f"{path}: expected 'data' as uint8 (N, 3072) and N 'labels', got {data.dtype} {data.shape} and "
            f"{labels.shape}"
        )
    import torch

    return labelled(torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), labels, classes, path)


def read_cifar10(cfg: DataConfig) -> tuple[ImageSet, ImageSet]:
    folder = root_of(cfg) / "cifar-10-batches-py"
    if cfg.download:
        download("CIFAR10", root_of(cfg))
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    if not all((folder / n).is_file() for n in names):
        raise missing("cifar10", folder, ", ".join(names))
    classes = cifar_classes(folder / "batches.meta")

    import torch

    from deepgen.data.imageset import ImageSet

    def load(batch_names: list[str]) -> ImageSet:
        parts = [cifar_images(folder / n, classes) for n in batch_names]
        return ImageSet(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]), classes)

    return load(names[:5]), load(["test_batch"])


def read_celeba(cfg: DataConfig) -> tuple[ImageSet, None]:
    folder = root_of(cfg) / "celeba" / "img_align_celeba"
    if cfg.download:
        download("CelebA", root_of(cfg), split="all")
    if not folder.is_dir():
        raise missing("celeba", folder, "the aligned JPEGs 000001.jpg ... of img_align_celeba")
    from deepgen.data.folder import read_flat_folder

    return read_flat_folder(folder, cfg.image_size or 64, cfg.channels or 3, "celeba", cfg.fit), None  # RGB faces


def folder_path(cfg: DataConfig) -> str:
    return cfg.data.partition(":")[2]


def read_folder(cfg: DataConfig) -> tuple[ImageSet, None]:
    from deepgen.data.folder import read_class_folder

    return read_class_folder(folder_path(cfg), cfg.image_size or MAX_AUTO_SIZE, cfg.channels, cfg.fit), None


def measure_folder(cfg: DataConfig) -> tuple[int, str]:
    from deepgen.data.folder import class_folder_size

    return class_folder_size(folder_path(cfg), cfg.fit)


def folder_channels(cfg: DataConfig) -> tuple[int, str | None]:
    from deepgen.data.folder import class_folder_channels

    return class_folder_channels(folder_path(cfg))


SOURCES: dict[str, Source] = {
    "mnist10k": Source("the real MNIST test set (10,000 digits, 28 px), shipped with deepgen", read_mnist10k, 28, True),
    "digits": Source("scikit-learn's bundled handwritten digits (1,797 images, 8 px)", read_digits, 8, True),
    "mnist": Source(
        "MNIST (60,000 + 10,000 digits, 28 px) from DATA_ROOT/MNIST/raw",
        mnist_like("mnist", "MNIST", DIGITS, "MNIST"),
        28,
    ),
    "fashion-mnist": Source(
        "Fashion-MNIST (60,000 + 10,000, 28 px) from DATA_ROOT/FashionMNIST/raw",
        mnist_like("fashion-mnist", "FashionMNIST", FASHION, "FashionMNIST"),
        28,
    ),
    "cifar10": Source("CIFAR-10 (50,000 + 10,000, 32 px RGB) from DATA_ROOT/cifar-10-batches-py", read_cifar10, 32),
    "celeba": Source("CelebA aligned faces from DATA_ROOT/celeba/img_align_celeba (64 px)", read_celeba, 64),
    "folder": Source(
        "folder:PATH, one sub-folder of images per class; at the images' own size (the most common one if "
        f"they differ, at most {MAX_AUTO_SIZE} px) unless --image-size",
        read_folder,
        MAX_AUTO_SIZE,
        measure=measure_folder,
        channels=folder_channels,
    ),
}
