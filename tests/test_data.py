"""Every data source on shipped data or on files in its standard format written here."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deepgen.cli import main
from deepgen.config import DataConfig, RunConfig
from deepgen.data import load_data, resolved
from deepgen.data.folder import MAX_AUTO_SIZE
from deepgen.data.loader import Batches
from deepgen.data.sources import read_idx

SHIPPED = Path(__file__).parents[1] / "src/deepgen/data/mnist10k"


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)


def mnist_layout(root: Path, folder: str, n_train: int, compress: bool) -> tuple[np.ndarray, np.ndarray]:
    """torchvision's MNIST layout, filled with the shipped test digits."""
    images = read_idx(SHIPPED / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(SHIPPED / "t10k-labels-idx1-ubyte.gz")
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "train-images-idx3-ubyte", images[:n_train], compress)
    write_idx(raw / "train-labels-idx1-ubyte", labels[:n_train], compress)
    write_idx(raw / "t10k-images-idx3-ubyte", images[n_train : n_train + 100], compress)
    write_idx(raw / "t10k-labels-idx1-ubyte", labels[n_train : n_train + 100], compress)
    return images, labels


def test_mnist10k_ships_the_real_test_set_split_by_seed() -> None:
    splits = load_data(DataConfig(data="mnist10k"))
    assert splits.train.images.shape == (8000, 1, 28, 28) and splits.test.images.shape == (2000, 1, 28, 28)
    assert splits.train.images.dtype == torch.uint8 and splits.train.classes == [str(i) for i in range(10)]
    total = torch.bincount(torch.cat([splits.train.labels, splits.test.labels]), minlength=10)
    assert total.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # MNIST test-set class counts
    # stratified: each class keeps its share in the test split
    share = torch.bincount(splits.test.labels, minlength=10) / total
    assert torch.allclose(share, torch.full((10,), 0.2), atol=0.01)
    again = load_data(DataConfig(data="mnist10k"))
    assert torch.equal(again.test.images, splits.test.images)
    other = load_data(DataConfig(data="mnist10k", split_seed=1))
    assert not torch.equal(other.test.labels, splits.test.labels)


def test_digits_from_scikit_learn() -> None:
    splits = load_data(DataConfig(data="digits"))
    assert splits.train.images.shape[1:] == (1, 8, 8) and len(splits.train) + len(splits.test) == 1797
    assert splits.train.images.max() == 255


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_formats_read_offline(tmp_path: Path, name: str, folder: str, compress: bool) -> None:
    images, labels = mnist_layout(tmp_path, folder, 300, compress)
    splits = load_data(DataConfig(data=name, data_root=str(tmp_path)))
    assert len(splits.train) == 300 and len(splits.test) == 100  # the official split, not a random one
    assert torch.equal(splits.train.images[:, 0], torch.from_numpy(images[:300].copy()))
    assert splits.test.labels.tolist() == labels[300:400].tolist()
    assert len(splits.train.classes) == 10 and (name != "fashion-mnist" or splits.train.classes[9] == "Ankle boot")


def cifar_pickle(obj: dict) -> bytes:
    """Protocol 2 with the numpy module path of the published (Python 2) CIFAR-10 files."""
    return pickle.dumps(obj, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def write_cifar10(root: Path) -> dict[str, dict]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = {
            "data": rng.integers(0, 256, (20, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, 20).tolist(),
        }
        (folder / name).write_bytes(cifar_pickle(batches[name]))
    (folder / "batches.meta").write_bytes(cifar_pickle({"label_names": CIFAR_CLASSES}))
    return batches


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_cifar10_python_batches(tmp_path: Path) -> None:
    batches = write_cifar10(tmp_path)
    splits = load_data(DataConfig(data="cifar10", data_root=str(tmp_path)))
    assert splits.train.images.shape == (100, 3, 32, 32) and len(splits.test) == 20
    assert splits.train.classes == CIFAR_CLASSES
    first = torch.from_numpy(batches["data_batch_1"]["data"][0].reshape(3, 32, 32))
    assert torch.equal(splits.train.images[0], first)
    assert splits.test.labels.tolist() == batches["test_batch"]["labels"]


def test_celeba_folder(tmp_path: Path) -> None:
    folder = tmp_path / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    for i in range(10):
        Image.fromarray(np.full((218, 178, 3), 20 * i, np.uint8)).save(folder / f"{i + 1:06d}.jpg")
    splits = load_data(DataConfig(data="celeba", data_root=str(tmp_path), image_size=32))
    assert splits.train.images.shape == (8, 3, 32, 32) and splits.train.classes == ["celeba"]


def test_folder_of_mixed_files(class_folder: Path) -> None:
    splits = load_data(DataConfig(data=f"folder:{class_folder}", image_size=24, test_fraction=0.3))
    data = torch.cat([splits.train.images, splits.test.images])
    assert splits.train.classes == ["no", "yes"]
    assert data.shape == (7, 3, 24, 24)  # RGB because some files are colour; the .txt file is ignored
    assert sorted(torch.cat([splits.train.labels, splits.test.labels]).tolist()) == [0, 0, 0, 1, 1, 1, 1]
    gray = load_data(DataConfig(data=f"folder:{class_folder}", image_size=16, channels=1))
    assert gray.train.images.shape[1:] == (1, 16, 16)


def test_grayscale_folder_is_read_as_one_channel(tmp_path: Path) -> None:
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.fromarray(np.full((20, 20), 40 * i, np.uint8), mode="L").save(tmp_path / label / f"{i}.png")
    Image.fromarray(np.full((20, 20), 65535, np.uint16)).save(tmp_path / "a" / "deep.png")  # 16-bit grayscale
    splits = load_data(DataConfig(data=f"folder:{tmp_path}", image_size=20, test_fraction=0.25))
    images = torch.cat([splits.train.images, splits.test.images])
    assert images.shape[1] == 1 and images.max() == 255


def test_resize_channels_and_limit_per_class() -> None:
    splits = load_data(DataConfig(data="mnist10k", image_size=32, channels=3, limit_per_class=10))
    assert splits.train.images.shape == (100, 3, 32, 32)
    assert splits.train.class_counts() == [10] * 10
    assert len(splits.test) == 2000  # the held-out split is never thinned
    again = load_data(DataConfig(data="mnist10k", limit_per_class=10))
    assert torch.equal(again.train.labels, splits.train.labels)
    other = load_data(DataConfig(data="mnist10k", limit_per_class=10, split_seed=3))
    assert not torch.equal(other.train.images, again.train.images)


def test_batches_are_seeded_cover_each_epoch_and_resume_by_position() -> None:
    data = load_data(DataConfig(data="digits")).train
    a = Batches(data, 100, torch.device("cpu"), seed=0)
    epoch = torch.cat([a.next().y for _ in range(int(a.per_epoch))])
    assert len(epoch) == 1400
    b = Batches(data, 100, torch.device("cpu"), seed=0)
    b.position = a.position
    assert torch.equal(a.next(37).x, b.next(37).x)  # batch sizes may vary; an epoch boundary is crossed here
    assert torch.equal(a.next().x, b.next().x)
    x = Batches(data, 100, torch.device("cpu"), seed=0).next().x
    assert x.min() >= -1 and x.max() <= 1 and x.dtype == torch.float32
    assert not torch.equal(Batches(data, 100, torch.device("cpu"), seed=1).next().x, x)


def test_epoch_visits_every_image_once() -> None:
    data = load_data(DataConfig(data="digits", limit_per_class=10)).train
    loader = Batches(data, 10, torch.device("cpu"), seed=0)
    seen = torch.cat([loader.next().x for _ in range(int(loader.per_epoch))])
    expected = data.images.float() / 127.5 - 1
    assert torch.equal(seen.sort(0).values, expected.sort(0).values)


def test_shipped_files_are_the_mnist_test_set() -> None:
    shared = Path(__file__).parents[2] / "shared/data/mnist"
    if not shared.is_dir():
        pytest.skip("../shared/data/mnist is not beside this checkout")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert gzip.decompress((SHIPPED / name).read_bytes()) == gzip.decompress((shared / name).read_bytes())


def test_download_asks_torchvision_for_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--download hands the data root to torchvision (no network here: a stand-in writes the files)."""
    import torchvision.datasets

    calls = []

    def fake_mnist(root: str, download: bool) -> None:
        calls.append((root, download))
        mnist_layout(Path(root), "MNIST", 50, compress=False)

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_mnist)
    splits = load_data(DataConfig(data="mnist", data_root=str(tmp_path), download=True))
    assert calls == [(str(tmp_path), True)] and len(splits.train) == 50


def test_pad_keeps_the_digits_scale() -> None:
    splits = load_data(DataConfig(data="mnist10k", image_size=32, fit="pad"))
    padded, original = splits.test.images, load_data(DataConfig(data="mnist10k")).test.images
    assert padded.shape[1:] == (1, 32, 32)
    assert torch.equal(padded[:, :, 2:30, 2:30], original) and padded[:, :, :2].max() == 0


def test_pad_shrinks_larger_images_to_fit(class_folder: Path) -> None:
    splits = load_data(
        DataConfig(data=f"folder:{class_folder}", image_size=24, fit="pad", channels=1, test_fraction=0.3)
    )
    assert splits.train.images.shape[1:] == (1, 24, 24)


def uniform_folder(root: Path, size: tuple[int, int], per_class: int = 3) -> Path:
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full(size[::-1], 30 * i, np.uint8), mode="L").save(root / label / f"{i}.png")
    return root


def test_a_folder_keeps_its_images_own_size(tmp_path: Path) -> None:
    spec = f"folder:{uniform_folder(tmp_path / 'digits', (28, 28))}"
    logs: list[str] = []
    cfg = resolved(DataConfig(data=spec), logs.append)
    assert cfg.image_size == 28
    assert logs == [f"image size 28 px for {spec} (every image is 28x28); --image-size N chooses another"]
    assert resolved(cfg, logs.append) is cfg and len(logs) == 1  # resolved once, then silent
    assert load_data(DataConfig(data=spec)).train.images.shape[1:] == (1, 28, 28)
    assert load_data(DataConfig(data=spec, image_size=16)).train.images.shape[1:] == (1, 16, 16)  # unless told
    wide = f"folder:{uniform_folder(tmp_path / 'wide', (40, 30))}"
    assert resolved(DataConfig(data=wide), logs.append).image_size == 30  # crop: the shorter side
    assert resolved(DataConfig(data=wide, fit="pad"), logs.append).image_size == 40  # pad: the longer side
    large = f"folder:{uniform_folder(tmp_path / 'large', (300, 200), per_class=1)}"
    assert resolved(DataConfig(data=large), logs.append).image_size == MAX_AUTO_SIZE == 128
    assert logs[-1].endswith("(every image is 300x200; capped at 128 px); --image-size N chooses another")


def test_a_mixed_folder_takes_its_most_common_size(class_folder: Path) -> None:
    logs: list[str] = []
    cfg = resolved(DataConfig(data=f"folder:{class_folder}"), logs.append)
    assert cfg.image_size == 64 and "2 of 7 images are 64x64, the most common of 6 sizes" in logs[0]
    assert load_data(DataConfig(data=f"folder:{class_folder}", test_fraction=0.3)).train.images.shape[2:] == (64, 64)
    assert "channels 3 (RGB) for folder:" in logs[1] and "5 of 7 images are in colour" in logs[1]  # 2 grey
    assert resolved(DataConfig(data="mnist10k"), logs.append).image_size is None and len(logs) == 2


def test_a_run_records_the_size_it_read_a_folder_at(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = uniform_folder(tmp_path / "digits", (12, 12), per_class=8)
    run = tmp_path / "run"
    assert main(["train", "vae", "--data", f"folder:{folder}", "--steps", "2", "--batch-size", "4", "--width", "8",
                 "--device", "cpu", "--no-tensorboard", "--out", str(run)]) == 0  # fmt: skip
    assert capsys.readouterr().out.count("image size 12 px for folder:") == 1
    assert RunConfig.load(run / "config.yaml").data.image_size == 12  # --config reproduces it


def test_a_folder_of_mostly_grey_images_is_read_in_grey_and_says_so(tmp_path: Path) -> None:
    """26 grey, 3 RGB and 1 RGBA images: the majority's one channel, printed with the counts and --channels 3;
    RGB files whose channels are all equal are grey; a folder of colour photos stays RGB, silently."""
    root, rng = tmp_path / "mixed", np.random.default_rng(0)
    for i in range(30):
        (root / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        mode = "L" if i < 26 else "RGB" if i < 29 else "RGBA"
        Image.fromarray(rng.integers(0, 256, (12, 12, 4), dtype=np.uint8)[..., :len(mode)].squeeze()).convert(
            mode).save(root / "ab"[i % 2] / f"{i}.png")  # fmt: skip
    logs: list[str] = []
    cfg = resolved(DataConfig(data=f"folder:{root}"), logs.append)
    assert cfg.channels == 1 and len(logs) == 2
    assert logs[1] == (
        f"channels 1 (grey) for folder:{root}: 26 of 30 images are grey (26 L, 3 RGB, 1 RGBA), the colour ones are "
        "converted to grey; --channels 3 reads every image in RGB"
    )
    assert load_data(cfg).train.images.shape[1] == 1 and load_data(DataConfig(data=f"folder:{root}", channels=3))
    grey_rgb = tmp_path / "grey-rgb"
    for i in range(6):
        (grey_rgb / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        grey = Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8))
        grey.convert("RGB").save(grey_rgb / "ab"[i % 2] / f"{i}.png")
    logs.clear()
    assert resolved(DataConfig(data=f"folder:{grey_rgb}"), logs.append).channels == 1
    assert logs[1].endswith("every image is grey, stored as 6 RGB; --channels 3 reads every image in RGB")
    colour = tmp_path / "colour"
    for i in range(6):
        (colour / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(colour / "ab"[i % 2] / f"{i}.png")
    logs.clear()
    assert resolved(DataConfig(data=f"folder:{colour}"), logs.append).channels == 3 and len(logs) == 1
