"""The Python API: the commands as functions that return objects, for notebooks and scripts.

    run = deepgen.train("vae", data="mnist10k", steps=5, out="api-run")
    run = deepgen.train("vae", resume=run, steps=10)   # continue it
    model = deepgen.load(run)
    images = model.sample(4)          # (4, C, H, W) in [-1, 1]
    table = deepgen.compare(["ae", "vae"], data="digits", budget="200", out="cmp")   # table.rows[1].fid

Keyword names are the command-line options' names with underscores (`--latent-dim` -> `latent_dim`); a bad name
or value gives the same ConfigError as the command line. Each function runs its command's own code.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from deepgen.config import RunConfig, api_call, as_keywords, cli_flag, given_once, key_value
from deepgen.errors import ConfigError, DeepgenError

if TYPE_CHECKING:
    from deepgen.models.base import GenerativeModel
    from deepgen.results import AugmentResults, CompareResults, EvalResults
    from deepgen.training.result import TrainResult

T = TypeVar("T")
REPEATED = {"set"}  # flags given once per value (`--set A=1 --set B=2`)


def keywords(function: Callable[..., T]) -> Callable[..., T]:
    """An API function whose errors name options as its keyword arguments (`steps`), not as flags (`--steps`)."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> T:
        with api_call():
            try:
                return function(*args, **kwargs)
            except DeepgenError as e:  # a message written for the command line names its flags: name keywords
                e.args = (as_keywords(str(e)), *e.args[1:])
                raise

    return call


@keywords
def train(
    model: str,
    *,
    config: str | Path | None = None,
    resume: TrainResult | str | os.PathLike | None = None,
    **options: Any,
) -> TrainResult:
    """Train `model` (like `deepgen train MODEL`), starting from the run config file `config` if given, with any
    training, data or model option as a keyword (`set=["key=value", ...]` like --set); returns the result (`.run` is
    the run directory). An `out` that is taken becomes `out-2`, `out-3`, ... (printed). `resume` continues that run
    (like `--resume RUN`: up to `steps` in total; only options that keep it exact may change)."""
    from deepgen.training.resume import resume_config
    from deepgen.training.trainer import train as train_run

    if resume is not None and config is not None:
        raise ConfigError("give config= (start a new run from a config) or resume= (continue a run), not both")
    overrides = options.pop("set", None) or []
    overrides = [overrides] if isinstance(overrides, str) else [str(pair) for pair in overrides]
    given_once(options, overrides)
    source = run_path(resume) if resume is not None else config
    if resume is not None:
        cfg = resume_config(run_path(resume), options, overrides)
    else:
        cfg = RunConfig.load(config) if config is not None else RunConfig.default(model)
    if model != cfg.model:
        raise ConfigError(f"model {model!r} does not match {cfg.model!r} in {source}")
    if resume is None:
        for key, value in options.items():
            cfg.set(key, value)
        cfg.apply_overrides(overrides)
    cfg.check_effect([*(k for k, v in options.items() if v is not None), *(key_value(p, "set")[0] for p in overrides)])
    if resume is None and cfg.train.out:
        cfg.train.out = str(free_folder(Path(cfg.train.out)))
    return train_run(cfg, resume=resume is not None)


def free_folder(out: Path) -> Path:
    """`out`, or out-2, out-3, ... when `out` already holds something: re-running a notebook or script starts a new
    run beside the earlier one and overwrites nothing (the command line refuses a taken --out instead)."""
    from deepgen.run import numbered
    from deepgen.training.runlock import check_new

    try:
        check_new(out)
        return out
    except ConfigError:
        free = numbered(out)
        print(f"{out} is taken; this run goes to {free}")
        return free


@keywords
def load(run: TrainResult | str | os.PathLike, device: str = "auto") -> GenerativeModel:
    """The model of a run's newest checkpoint (or of the checkpoint directory given), ready for inference:
    `model.sample(n)`, and `encode`/`decode`/`reconstruct` for models with an encoder (images in [-1, 1])."""
    from deepgen.device import resolve_device
    from deepgen.run import open_run

    model = open_run(run_path(run)).load(resolve_device(device)).model
    return model.requires_grad_(False)


@keywords
def evaluate(run: TrainResult | str | os.PathLike, **options: Any) -> EvalResults:
    """Score a run like `deepgen eval RUN` (merged into RUN/metrics.json): `result.rows[0].fid`, ... (plain metric
    names), `result.features` the feature extractor, `result.metrics[run]` every metric with its counts and method."""
    return command("eval", [str(run_path(run))], options)


@keywords
def compare(models: Sequence[str], *, out: str | Path, **options: Any) -> CompareResults:
    """Train and evaluate `models` alike, like `deepgen compare` (`budget` and `data` are required): one row per
    model and seed after the real-data floor (`row.model`, `row.fid`, ...), `outputs` (csv, markdown, html)."""
    return command("compare", [*models], {"out": out, **options})


@keywords
def augment(*, out: str | Path, **options: Any) -> AugmentResults:
    """Real vs real + synthetic classifier training, like `deepgen augment`: one row per classifier, variant and
    seed (`row.accuracy`, ...), `outputs` (results.csv, summary.md, report.html, ...)."""
    return command("augment", [], {"out": out, **options})


def run_path(run: TrainResult | str | os.PathLike) -> Path:
    """The directory of a run given as a path or as train()'s result (a ConfigError for anything else)."""
    from deepgen.training.result import TrainResult

    if isinstance(run, (str, os.PathLike)):
        return Path(run)
    if isinstance(run, TrainResult):
        return run.run
    raise ConfigError(f"run: expected a run directory (a path) or the result of deepgen.train(), got {run!r:.80}")


def command(name: str, positional: list[str], options: dict[str, Any]) -> Any:
    """`deepgen NAME`'s result, with `options` as flags (True: the bare flag, False: --no-FLAG, None: left out,
    lists: the flag's values), so that its parser checks and converts them as on the command line."""
    argv = list(positional)
    for key, value in options.items():
        if value is None:
            continue
        values = [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
        if isinstance(value, bool):
            argv.append(cli_flag(key if value else f"no_{key}"))
        elif key in REPEATED:
            argv += [part for v in values for part in (cli_flag(key), v)]
        else:
            argv += [cli_flag(key), *values]
    return importlib.import_module(f"deepgen.commands.{name}").run(argv)
