"""Continuing a run: its config, with only the options that do not change the computation changed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from deepgen.config import RunConfig, flag, key_value
from deepgen.errors import ConfigError
from deepgen.run import open_run


def resume_config(
    run: str | Path, changes: Mapping[str, Any] | None = None, overrides: Sequence[str] = ()
) -> RunConfig:
    """The config of run directory `run`, with `changes` (option -> value) and then `overrides` ("key=value", as
    --set gives them) applied once `check_resumable` allows them, set to continue the run where it is (whatever they
    say of --out)."""
    cfg = open_run(Path(run)).config
    changes = changes or {}
    check_resumable(cfg, [*changes, *(key_value(pair, flag("set"))[0] for pair in overrides)], run)
    for key, value in changes.items():
        cfg.set(key, value)
    cfg.apply_overrides(list(overrides))
    cfg.train.out = str(run)
    return cfg


def check_resumable(cfg: RunConfig, keys: Iterable[str], run: str | Path) -> None:
    """A ConfigError unless every option in `keys` ("steps" or "train.steps") may change when `run` continues."""
    changed = {key.strip().rpartition(".")[2] for key in keys}
    if "out" in changed:
        raise ConfigError(
            f"{flag('resume')} {run} continues that run in its own folder; {flag('out')} cannot send it elsewhere. "
            f"Copy the folder and resume the copy, or start a new run with {flag('config')} {Path(run) / 'config.yaml'}"
        )
    resumable = cfg.resumable() - {"out"}  # out follows a moved run folder, but is not the user's to change
    refused = changed - resumable
    if refused:
        allowed = ", ".join(flag(n) for n in sorted(resumable))
        raise ConfigError(
            f"{flag('resume')} continues {run} exactly as configured; it can change only {allowed}, "
            f"not {', '.join(sorted(refused))}"
        )
