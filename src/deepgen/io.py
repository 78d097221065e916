"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

UMASK = os.umask(0)
os.umask(UMASK)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~UMASK)  # mkstemp makes files private; give the usual permissions
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory that is renamed to the new directory `path` only if the block completes.

    Files written inside should be complete (see `write_synced`); on any error the temporary
    directory is removed.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o777 & ~UMASK)  # mkdtemp makes directories private; give the usual permissions
        yield tmp
        fsync_dir(tmp)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(path.parent)


def write_synced(path: Path, data: bytes) -> None:
    """Write and fsync one file (for use inside `atomic_directory`)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def hub_file(url: str, what: str, alternative: str) -> Path:
    """The file of `url` in the torch hub cache ($TORCH_HOME/hub/checkpoints), downloaded there (its hash, the
    file name's last '-' part, checked) if missing; one DeepgenError line naming the file, where to put it and
    `alternative` (another way to get `what`) when it can be had neither way."""
    import torch

    from deepgen.errors import DeepgenError

    cached = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(cached), hash_prefix=cached.stem.rsplit("-", 1)[1])
        except (OSError, RuntimeError) as e:  # URLError is an OSError; a hash mismatch a RuntimeError
            raise DeepgenError(
                f"{what} weights {cached} are missing and could not be downloaded ({type(e).__name__}: {e}). "
                f"Fetch {url} where there is internet and put it at {cached} (or set TORCH_HOME), or {alternative}."
            ) from None
    return cached
