"""A run directory (or an experiment's output folder) has one owner: the process holding the lock on DIR/.lock (an
flock, which the kernel releases when the process ends, however it ends, so a crashed run never leaves it stuck)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deepgen.config import flag
from deepgen.errors import ConfigError
from deepgen.io import atomic_write_text, writing
from deepgen.run import LOCK


@contextmanager
def own_run(run: Path, new: bool) -> Iterator[Path]:
    """Hold the lock of run directory `run` for the block. `new`: create the directory, which must be empty (but
    for a lock file), and remove it again if the block fails while it is still empty."""
    if new:
        check_new(run)
    elif not run.is_dir():
        raise ConfigError(f"run directory {run} does not exist")
    created = not run.exists()
    with locked(run, "run directory"):
        if new:
            check_new(run)  # again: another process may have filled it before we held the lock
        try:
            yield run
        except BaseException:
            if created and not others(run):
                (run / LOCK).unlink(missing_ok=True)
                run.rmdir()
            raise


@contextmanager
def locked(folder: Path, what: str) -> Iterator[None]:
    """Hold the lock file of `folder` (created if missing) for the block; a ConfigError naming `what` and the
    owner's process id if another process holds it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise ConfigError(f"cannot create {what} {folder}: {e.strerror or e}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ConfigError(
                f"{what} {folder} is in use by another deepgen process (pid {owner}); wait for it to finish, "
                "or choose another --out"
            ) from None
        with writing(folder / LOCK):  # a full disk: one line, not a traceback
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def check_new(run: Path) -> None:
    """A new run may go to `run` only if it is nothing yet or an empty directory (but for a lock file)."""
    if run.exists() and not run.is_dir():
        raise ConfigError(f"{flag('out')} {run} is a file; give a directory for the run")
    if run.is_dir() and others(run):
        raise ConfigError(
            f"run directory {run} is not empty; continue it with {flag('resume', str(run))}, or choose another "
            f"{flag('out')}"
        )


def others(run: Path) -> list[Path]:
    """What `run` holds besides its lock file."""
    return [p for p in run.iterdir() if p.name != LOCK]


FAILED = "failed"  # a key of a claim's record: that run ended with an error (a corrected command may take over)


def claim(folder: Path, record: str, settings: dict[str, Any], what: str, leftovers: tuple[str, ...] = ()) -> None:
    """Record the JSON-able `settings` of `what` (e.g. "an experiment") in folder/`record`, or check them against the
    record there: an earlier run into `folder` is continued only with the same settings, unless it failed (see
    `mark_failed`): then other settings take the folder over and what it left (`leftovers`, names in `folder`) is
    removed. A folder that holds something else is refused (call with the lock of `folder` held, see `locked`)."""
    path = folder / record
    settings = json.loads(json.dumps(settings, default=str))
    if path.is_file():
        try:
            before = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read {path}: {e}") from None
        changed = [f"{k}: {before.get(k)!r} -> {v!r}" for k, v in settings.items() if before.get(k) != v]
        if changed and not before.get(FAILED):
            raise ConfigError(
                f"{flag('out')} {folder} holds {what} with other settings ({'; '.join(changed)}); its runs and "
                f"results would be mixed with these: choose another {flag('out')}"
            )
        if changed:  # what a failed run with other settings left is of no use to this one
            for name in leftovers:
                part = folder / name
                shutil.rmtree(part) if part.is_dir() else part.unlink(missing_ok=True)
        if not before.get(FAILED):
            return
    elif others(folder):
        raise ConfigError(
            f"{flag('out')} {folder} is not empty and holds no {record}; choose a new or empty folder"
        )
    atomic_write_text(path, json.dumps(settings, indent=2))


def mark_failed(folder: Path, record: str) -> None:
    """Record in folder/`record` that the run failed: a corrected command may then take the folder over."""
    path = folder / record
    atomic_write_text(path, json.dumps(json.loads(path.read_text()) | {FAILED: True}, indent=2))
