"""Bad input gives one clear error (or one warning listing skipped files), never a deep traceback."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from deepgen.cli import main
from deepgen.config import DataConfig
from deepgen.data import load_data
from deepgen.data.quality.onload import DataWarning
from deepgen.errors import ConfigError, DataError


def test_corrupt_images_are_skipped_with_one_warning_listing_them(class_folder: Path) -> None:
    (class_folder / "yes" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (class_folder / "no" / "empty.png").write_bytes(b"")
    with pytest.warns(UserWarning) as caught:
        splits = load_data(DataConfig(data=f"folder:{class_folder}", image_size=16, test_fraction=0.3))
    skipped = [w for w in caught if not issubclass(w.category, DataWarning)]  # not the data checks' (tiny classes)
    assert len(skipped) == 1
    message = str(skipped[0].message)
    assert "skipped 2 unreadable image file(s) of 9" in message
    assert "broken.jpg" in message and "empty.png" in message
    assert len(splits.train) + len(splits.test) == 7


def test_empty_class_folder(class_folder: Path) -> None:
    (class_folder / "maybe").mkdir()
    with pytest.raises(DataError, match=r"class folder .*maybe has no images"):
        load_data(DataConfig(data=f"folder:{class_folder}"))


def test_class_folder_with_only_unreadable_files(class_folder: Path) -> None:
    (class_folder / "maybe").mkdir()
    (class_folder / "maybe" / "x.png").write_bytes(b"garbage")
    with pytest.warns(UserWarning), pytest.raises(DataError, match=r"class folder .*maybe has no readable images"):
        load_data(DataConfig(data=f"folder:{class_folder}"))


def test_folder_without_class_subfolders(tmp_path: Path, class_folder: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in (class_folder / "yes").glob("*.*"):
        (flat / f.name).write_bytes(f.read_bytes())
    with pytest.raises(DataError, match="has no class sub-folders; expected one sub-folder per class"):
        load_data(DataConfig(data=f"folder:{flat}"))


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"image folder .*nowhere does not exist"):
        load_data(DataConfig(data=f"folder:{tmp_path / 'nowhere'}"))


def test_missing_dataset_files_name_the_place_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"mnist: files not found in .*MNIST/raw .*--download"):
        load_data(DataConfig(data="mnist", data_root=str(tmp_path)))
    with pytest.raises(DataError, match=r"cifar10: files not found in .*cifar-10-batches-py"):
        load_data(DataConfig(data="cifar10", data_root=str(tmp_path)))
    with pytest.raises(DataError, match=r"celeba: files not found"):
        load_data(DataConfig(data="celeba", data_root=str(tmp_path)))


def test_truncated_idx_file(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (raw / name).write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 28, 0, 0, 0, 28]) + b"\x00" * 100)
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5]) + b"\x00" * 5)
    with pytest.raises(DataError, match="truncated"):
        load_data(DataConfig(data="mnist", data_root=str(tmp_path)))


class RunsCode:
    def __reduce__(self) -> tuple:
        return (Path.touch, (Path(self.target),))  # type: ignore[attr-defined]


def test_cifar_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    payload = RunsCode()
    payload.target = str(tmp_path / "pwned")  # type: ignore[attr-defined]
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (folder / name).write_bytes(pickle.dumps({"label_names": payload}))
    with pytest.raises(DataError, match="not a CIFAR-10 python batch: refusing to load"):
        load_data(DataConfig(data="cifar10", data_root=str(tmp_path)))
    assert not (tmp_path / "pwned").exists()


def test_unknown_dataset_name_suggests_one() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'mnist10k'"):
        load_data(DataConfig(data="mnist10"))


def test_bad_channels_option() -> None:
    with pytest.raises(ConfigError, match="--channels: expected 1 or 3, got 2"):
        load_data(DataConfig(data="digits", channels=2))


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--data", "folder:/does/not/exist"], "image folder /does/not/exist does not exist"),
        (["--data", "mnist", "--data-root", "/nonexistent"], "mnist: files not found"),
        (["--precision", "fp8"], "invalid choice: 'fp8'"),
        (["--set", "latent_dm=3"], "did you mean 'latent_dim'"),
        (["--steps", "ten"], "expected a whole number"),
    ],
)
def test_cli_reports_bad_input_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], expected: str
) -> None:
    code = main(["train", "vae", "--out", str(tmp_path / "run"), "--device", "cpu", *args])
    assert code == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
