"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deepgen.errors import DeepgenError, OutputError

UMASK = os.umask(0)
os.umask(UMASK)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


REMEDIES = {
    errno.ENOSPC: "the disk is full: free some space, or write elsewhere",
    errno.EDQUOT: "the disk quota is used up: free some space, or write elsewhere",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.EACCES: "permission denied: write elsewhere, or change the folder's permissions",
    errno.EPERM: "permission denied: write elsewhere, or change the folder's permissions",
}


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OSError of the block (which writes `path`) into one OutputError line naming `path`, why, and what
    to do."""
    try:
        yield
    except OSError as e:
        raise OutputError(f"cannot write {path}: {reason(e, path)}") from None


def reason(e: OSError, path: Path) -> str:
    if e.errno in REMEDIES:
        return f"{REMEDIES[e.errno]} ({e.strerror})"
    if e.errno in (errno.EEXIST, errno.ENOTDIR):
        blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            return f"{blocking} is a file, not a folder"
    return e.strerror or str(e)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it over `path` (an OutputError if
    it cannot be written)."""
    path = Path(path)
    with writing(path):
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
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        with writing(path):
            os.chmod(tmp, 0o777 & ~UMASK)  # mkdtemp makes directories private; give the usual permissions
        yield tmp
        with writing(path):
            fsync_dir(tmp)
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with writing(path):
        fsync_dir(path.parent)


def write_synced(path: Path, data: bytes) -> None:
    """Write and fsync one file (for use inside `atomic_directory`; an OutputError if it cannot be written)."""
    with writing(path), open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def to_json(value: Any, **kwargs: Any) -> str:
    """`value` as JSON text, with NaN and infinite numbers written as null: json.dumps writes NaN, which no JSON
    reader but Python's accepts (metrics.jsonl, metrics.json)."""

    def finite(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: finite(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [finite(x) for x in v]
        return v

    return json.dumps(finite(value), allow_nan=False, **kwargs)


def update_json(path: Path, update: Callable[[dict[str, Any]], None]) -> None:
    """Apply `update` to the JSON object in `path` (an empty one if there is none) and write it back atomically,
    holding the lock of `path` (.NAME.lock beside it) meanwhile, so that writers which each update their own keys
    (the trainer, deepgen eval) never lose one another's (a DeepgenError if `path` holds no JSON object)."""
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for one read and one write: others wait moments at most
        existing: Any = {}
        if path.is_file():
            try:
                existing = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise DeepgenError(f"{path} is not valid JSON ({e}); move it away and try again") from None
            if not isinstance(existing, dict):
                raise DeepgenError(f"{path} holds a JSON {type(existing).__name__}, expected an object")
        update(existing)
        atomic_write_text(path, to_json(existing, indent=2))
    finally:
        os.close(fd)


def hub_file(url: str, what: str, alternative: str) -> Path:
    """The file of `url` in the torch hub cache ($TORCH_HOME/hub/checkpoints), downloaded there (its hash, the
    file name's last '-' part, checked) if missing; one DeepgenError line naming the file, where to put it and
    `alternative` (another way to get `what`) when it can be had neither way."""
    import torch

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
