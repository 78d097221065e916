"""The training loop shared by every model: phases, AMP, logging, grids, checkpoints, resume."""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from deepgen.config import RunConfig, flag
from deepgen.data import Splits, images_fit, load_data, resolved
from deepgen.data.imageset import to_float
from deepgen.data.loader import Batches
from deepgen.device import resolve_device
from deepgen.errors import CheckpointError, ConfigError, NonFiniteLossError, OutputError
from deepgen.footprint import check_training_memory
from deepgen.io import atomic_write_text
from deepgen.limits import need_steps
from deepgen.models.base import GenerativeModel, Phase
from deepgen.models.sizing import Sizing
from deepgen.run import (
    CONFIG,
    STATE,
    WEIGHTS,
    data_slug,
    latest_checkpoint,
    new_run_name,
)
from deepgen.training.checkpoint import remove_partial, save_checkpoint
from deepgen.training.distributed import (
    World,
    any_process,
    broadcast_module,
    gather,
    join,
    leave,
    shard_batch_size,
    share,
)
from deepgen.training.health import Advice, HealthMonitor, train_flags
from deepgen.training.metrics_log import MetricsLog
from deepgen.training.outputs import RunOutputs
from deepgen.training.result import TrainResult
from deepgen.training.runlock import check_new, own_run
from deepgen.training.step import prepare
from deepgen.weights import load_state, load_weights, read_weights


def train(
    cfg: RunConfig, resume: bool = False, splits: Splits | None = None, advice: Advice = train_flags
) -> TrainResult:
    """Train `cfg.model` as configured; with `resume`, continue the run in `cfg.train.out` from its last
    checkpoint. `splits` replaces the configured data (the augmentation experiment trains generators on
    each seed's training split); `advice` writes options as the command being run takes them (the health
    monitor's remedies). Under torchrun each process trains on its slice of every batch; rank 0 writes the
    files, holding the run directory's lock throughout."""
    cfg.validate()
    world, device = join(resolve_device(cfg.train.device))
    finished = False
    try:
        run = Path(cfg.train.out) if resume else run_dir_on_rank0(cfg, world)
        with own_run(run, new=not resume) if world.main else nullcontext(run):
            if world.main and remove_partial(run):
                warnings.warn(f"removed unfinished checkpoint writes in {run / 'checkpoints'}", stacklevel=2)
            result = train_in(run, cfg, world, device, resume, splits, advice)
        finished = True
        return result
    finally:
        leave(world, finished)


def train_in(
    run: Path, cfg: RunConfig, world: World, device: torch.device, resume: bool, splits: Splits | None, advice: Advice
) -> TrainResult:
    """`train` in the run directory `run`, once it is owned."""
    t = cfg.train
    cfg.data = resolved(cfg.data)  # config.yaml records a folder's image size and channels, and --dedupe
    if splits is None:
        splits = load_data(cfg.data, plan=lambda n, shape, classes: plan(cfg, n, shape, classes, device))
    else:
        plan(cfg, len(splits.train) + len(splits.test), splits.train.shape, splits.train.classes, device)
    size_options(cfg, splits, device, world)
    resumed = latest_checkpoint(run) if resume else None
    stored = read_checkpoint(resumed, cfg) if resumed else None  # checked against cfg before anything is built
    stepper = prepare(cfg, splits, device, world)
    model, phases, batches, scalers = stepper.model, stepper.phases, stepper.batches, stepper.scalers
    total = t.steps
    if t.epochs is not None:
        total = math.ceil(t.epochs * batches.per_epoch / sum(p.repeat / p.every for p in phases))
        need_steps(total, flag("epochs", t.epochs), f"give fewer {flag('epochs')} or {flag('steps')}")
    step, elapsed = restore(stored, model, phases, scalers, batches, world) if stored else (0, 0.0)
    if step > total:
        asked = flag("steps", t.steps) if t.epochs is None else f"{flag('epochs', t.epochs)} ({total} steps)"
        raise ConfigError(
            f"{run} is at step {step} already, beyond {asked}; {flag('resume')} continues a run up to that many "
            f"steps in total: give {flag('steps')} above {step}"
        )
    stepper.step = step
    if world.rank and not resumed:
        torch.manual_seed(t.seed + 7919 * world.rank)  # each process draws its own noise
    broadcast_module(model, world)
    if world.main:
        atomic_write_text(run / CONFIG, cfg.to_yaml())
    result = TrainResult(run, step, checkpoint=resumed, rank=world.rank, elapsed_s=elapsed)
    saved = step if resumed else None
    log = MetricsLog(run, step, t.tensorboard, world)
    options = {name: getattr(getattr(cfg, section), name) for name, (section, _) in cfg.fields().items()}
    health = HealthMonitor(log, splits.train, t.collapse_ratio, options, advice, total)
    outputs = RunOutputs(run, log, health, to_float(splits.test.images[:32]).to(device), t.seed, result)

    def checkpoint() -> None:
        nonlocal saved
        rng = gather(rng_state(), world)
        result.elapsed_s = elapsed + time.perf_counter() - started
        if world.main:
            state = {
                "optimizers": {p.name: p.optimizer.state_dict() for p in phases},
                "scalers": {name: s.state_dict() for name, s in scalers.items()},
                "rng": rng,
                "data_position": batches.position,
                "elapsed_s": result.elapsed_s,
                "config": json.dumps(cfg.to_dict()),
            }
            result.checkpoint = save_checkpoint(run, step, model, state, t.keep_checkpoints)
        saved = step

    def flush() -> None:
        nonlocal mark
        now = time.perf_counter()
        extra = {
            "elapsed_s": round(elapsed + now - started, 3),
            "img_per_s": round((batches.position - mark[1]) / max(now - mark[0], 1e-9), 1),
        }
        mark = (now, batches.position)
        row = log.flush(extra)
        if row and world.main:
            health.check_row(row)
        short = len(phases) == 1  # "recon" rather than "vae/recon"; "D/loss" and "G/loss" stay apart
        bar.set_postfix(
            {k.split("/", 1)[-1] if short else k: f"{v:.4g}" for k, v in row.items() if "/" in k}, refresh=False
        )

    def done() -> bool:
        """Stop at --steps, on Ctrl-C/SIGTERM or at --time-limit (decided together by all processes)."""
        if step >= total:
            return True
        if world.distributed and step % t.log_every:
            return False
        late = t.time_limit is not None and elapsed + time.perf_counter() - started >= t.time_limit
        return any_process(stop.is_set() or late, world, device)

    started = time.perf_counter()
    mark = (started, batches.position)
    bar = tqdm(
        total=total if t.time_limit is None else None,  # a time budget ends the run before --steps
        initial=step,
        desc=f"{cfg.model} {splits.name}",
        unit="step",
        dynamic_ncols=True,
        mininterval=0.1 if sys.stderr.isatty() else 10,
        disable=not world.main,
    )
    model.train()
    stage = model.stage()
    stepping = 0.0  # seconds inside the training steps (on a GPU, as far as the host waits for them)
    try:
        with stop_requests() as stop:
            while not done():
                began = time.perf_counter()
                terms, stats = stepper()
                stepping += time.perf_counter() - began
                step += 1
                result.step = step
                log.record(step, terms, stats)
                bar.update()
                if step % t.log_every == 0:
                    flush()
                if step % t.sample_every == 0 and world.main:
                    outputs.grids(model, step)
                if model.stage() != stage:
                    if world.main:
                        outputs.grids(model, step, name=f"stage-{stage}")
                    stage = model.stage()
                    bar.set_description(f"{cfg.model} {stage}")
                if step % t.checkpoint_every == 0:
                    flush()
                    checkpoint()
            flush()
            if saved != step:
                checkpoint()
        result.outside_step = 1 - stepping / max(time.perf_counter() - started, 1e-9)
        result.images_seen = batches.position
        result.interrupted = step < total and stop.is_set()
        if world.main and not result.interrupted:
            outputs.finish(model, step, splits.test)
    except NonFiniteLossError as e:
        last = f"the last good checkpoint is {result.checkpoint}" if result.checkpoint else "no checkpoint was written"
        raise NonFiniteLossError(
            f"{e}. Training stopped; {last}. A lower learning rate or --precision fp32 may help."
        ) from None
    except OutputError as e:
        kept = f"continue from {result.checkpoint} with {flag('resume', str(run))}" if result.checkpoint else ""
        raise OutputError(f"{e}. Training stopped at step {step}{'; ' + kept if kept else ''}") from None
    finally:
        bar.close()
        log.close()
    return result


def plan(cfg: RunConfig, n: int, shape: tuple[int, int, int], classes: list[str], device: torch.device) -> None:
    """Refuse, before the data is resized or the model built, a run whose `n` images of `shape` do not fit in the
    host's memory, or whose model and training step do not fit in `device`'s."""
    images_fit(cfg.data)(n, shape, classes)
    check_training_memory(cfg, n, shape, classes, device)


def size_options(cfg: RunConfig, splits: Splits, device: torch.device, world: World) -> None:
    """Give the options left at auto their values for this data and device, and cap a batch size beyond the
    training images at their number (printed once; config.yaml and each checkpoint record them, so --config and
    --resume repeat them)."""
    c, size, _ = splits.train.shape
    present = sum(1 for n in splits.train.class_counts() if n)  # a one-class split of many classes has one
    sizing = Sizing(size, c, len(splits.train), device.type, present)
    sized = cfg.size_to(sizing)
    if sized and world.main:
        print(f"auto-sized for {sizing}: " + ", ".join(f"{k}={v}" for k, v in sized.items()))
    if cfg.train.batch_size > len(splits.train):
        if world.main:
            warnings.warn(
                f"{flag('batch_size', cfg.train.batch_size)} exceeds the {len(splits.train)} training images; using "
                f"{len(splits.train)} (recorded in config.yaml)",
                stacklevel=2,
            )
        cfg.train.batch_size = len(splits.train)
    if world.distributed:
        shard_batch_size(cfg.train.batch_size, world)


def rng_state() -> dict[str, Any]:
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


@dataclass
class SavedCheckpoint:
    """A checkpoint read and checked (digests, model, configuration) before a resumed run builds its model."""

    path: Path
    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]


def read_checkpoint(ckpt: Path, cfg: RunConfig) -> SavedCheckpoint:
    """The weights and training state of checkpoint `ckpt`, refused unless both carry their digests and the
    configuration they record is `cfg` (but for the options a resumed run may change)."""
    tensors, meta = read_weights(ckpt / WEIGHTS)
    if meta["model"] != cfg.model:
        raise CheckpointError(f"{ckpt} holds a {meta['model']} model, not {cfg.model}")
    if "state_sha256" not in meta:
        raise CheckpointError(
            f"{ckpt / WEIGHTS} carries no SHA-256 of the training state {STATE}, so nothing shows it is unaltered; "
            "refusing to resume from it"
        )
    state = load_state(ckpt / STATE, meta["state_sha256"])
    check_unchanged(cfg, state, ckpt)
    return SavedCheckpoint(ckpt, tensors, state)


def restore(
    saved: SavedCheckpoint,
    model: GenerativeModel,
    phases: list[Phase],
    scalers: dict,
    batches: Batches,
    world: World,
) -> tuple[int, float]:
    """Load a checkpoint (see read_checkpoint) into the freshly built training objects; returns (step, elapsed
    seconds)."""
    ckpt, state = saved.path, saved.state
    load_weights(model, saved.tensors, ckpt / WEIGHTS)
    if len(state.get("rng", [])) != world.size:
        raise CheckpointError(
            f"{ckpt} was written by {len(state.get('rng', []))} process(es); resume it with as many "
            f"(this run has {world.size})"
        )
    try:
        for p in phases:
            p.optimizer.load_state_dict(state["optimizers"][p.name])
            scalers[p.name].load_state_dict(state["scalers"][p.name])
        rng = state["rng"][world.rank]
        torch.set_rng_state(rng["cpu"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        batches.position = state["data_position"]
        return state["step"], state["elapsed_s"]
    except (KeyError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"training state {ckpt / STATE} does not fit this run: {e!r}") from None


def check_unchanged(cfg: RunConfig, state: dict[str, Any], ckpt: Path) -> None:
    """Refuse to resume with options (edited in config.yaml or given anew) that differ from the checkpoint's
    record and would change the computation; checkpoints written before the record existed are trusted."""
    if "config" not in state:
        return
    try:
        recorded = RunConfig.from_dict(json.loads(state["config"]), f"{ckpt / STATE}: config")
    except (ValueError, TypeError, ConfigError) as e:
        raise CheckpointError(f"{ckpt / STATE}: its record of the run's configuration is unreadable: {e}") from None
    changed = cfg.changes_from(recorded)
    if changed:
        raise ConfigError(
            f"{flag('resume')} continues {ckpt.parent.parent} bit for bit, but its configuration changed since "
            f"{ckpt.name}: {'; '.join(changed)}. Restore config.yaml, or start a new run from it with "
            f"{flag('config')} and another {flag('out')}"
        )


def run_dir_on_rank0(cfg: RunConfig, world: World) -> Path:
    """Rank 0 picks the new run directory; every process gets its path (or its error)."""
    outcome: str | ConfigError | None = None
    if world.main:
        try:
            outcome = str(new_run_dir(cfg))
        except ConfigError as e:
            outcome = e
    outcome = share(outcome, world)
    if isinstance(outcome, ConfigError):
        raise outcome
    cfg.train.out = outcome
    return Path(outcome)


def new_run_dir(cfg: RunConfig) -> Path:
    """The run directory for a new run (created when it is owned): --out if empty, else runs/MODEL-DATA numbered."""
    if cfg.train.out:
        run = Path(cfg.train.out)
        check_new(run)
    else:
        run = new_run_name(cfg.model, data_slug(cfg.data.data))
        cfg.train.out = str(run)
    return run


@contextmanager
def stop_requests() -> Iterator[threading.Event]:
    """Ctrl-C / SIGTERM ask the loop to stop after the current step (and checkpoint); a second Ctrl-C aborts."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
