"""Running an experiment's missing cells: here, one after another (--jobs 1) or in a bounded pool of worker
processes (--jobs N: each with the cores / N threads, or pinned to one GPU each where there are GPUs); or as SLURM
job arrays through submitit (--launcher slurm), one array per wave of cells whose needs are met. A cell that fails
or is killed is only a missing cell: the next run of the same command runs it."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from deepgen.augmentation.cells import Cell, done, read_cell, run_cell
from deepgen.augmentation.config import AugmentConfig
from deepgen.errors import ConfigError, DeepgenError

Log = Callable[[str], None]
FIRST = {"generator": 0, "baseline": 1, "variant": 2}  # costly cells that others wait for go first


def run_missing(cfg: AugmentConfig, cells: list[Cell], log: Log) -> list[Cell]:
    """Run the cells of `cells` that have no result yet, as cfg.launcher says; return those still missing (a failed
    or killed one, and those that need it)."""
    missing = [c for c in cells if not done(cfg, c)]
    log(f"{len(cells) - len(missing)} of {len(cells)} cells done, {len(missing)} to run ({where(cfg)})")
    if cfg.dry_run:
        LAUNCHERS[cfg.launcher].dry_run(cfg, missing, log)
        return missing
    if missing:
        LAUNCHERS[cfg.launcher].run(cfg, missing, log)
    return [c for c in missing if not done(cfg, c)]


def where(cfg: AugmentConfig) -> str:
    if cfg.launcher == "local":
        return (
            "in this process" if cfg.jobs == 1 else f"{cfg.jobs} worker processes, {worker_threads(cfg)} thread(s) each"
        )
    return f"{cfg.launcher} job arrays through submitit"


def worker_threads(cfg: AugmentConfig) -> int:
    return max(1, (os.cpu_count() or 1) // cfg.jobs)


def ready(cfg: AugmentConfig, pending: list[Cell], running: set[str] = frozenset()) -> list[Cell]:
    """The pending cells (not running) whose needs are done, costly kinds first."""
    free = [
        c for c in pending if c.key not in running and all((cfg.out / "cells" / f"{k}.json").is_file() for k in c.needs)
    ]
    return sorted(free, key=lambda c: FIRST[c.kind])


def finished(cfg: AugmentConfig, cell: Cell, count: str, log: Log) -> None:
    rows = read_cell(cfg, cell).get("rows", [])
    score = f": {rows[0]['variant']} accuracy {rows[0]['accuracy']:.4f} ({rows[0]['seconds']:.0f} s)" if rows else ""
    log(f"cell {count} {cell.key}{score}")


class Local:
    """Cells in this process (--jobs 1), or in a pool of --jobs worker processes that takes each cell as soon as the
    cells it needs are done."""

    @staticmethod
    def dry_run(cfg: AugmentConfig, cells: list[Cell], log: Log) -> None:
        log("--dry-run: would run " + "".join(f"\n  {c.key}" for c in cells))

    @staticmethod
    def run(cfg: AugmentConfig, cells: list[Cell], log: Log) -> None:
        if cfg.jobs == 1:
            for i, cell in enumerate(cells, 1):
                run_cell(cfg, cell)
                finished(cfg, cell, f"{i}/{len(cells)}", log)
            return
        gpus = visible_gpus(cfg)
        context = get_context("spawn")
        slots = context.Queue()
        for i in range(cfg.jobs):
            slots.put(gpus[i % len(gpus)] if gpus else None)
        args = (worker_threads(cfg), slots)
        with ProcessPoolExecutor(cfg.jobs, mp_context=context, initializer=start_worker, initargs=args) as pool:
            pending, running, count = list(cells), {}, 0
            while pending or running:
                for cell in ready(cfg, pending, set(running)):
                    running[cell.key] = (pool.submit(run_cell, cfg, cell), cell)
                    pending.remove(cell)
                if not running:
                    return  # what is left needs a cell that failed
                finished_now, _ = wait([f for f, _ in running.values()], return_when=FIRST_COMPLETED)
                for key, (future, cell) in list(running.items()):
                    if future in finished_now:
                        del running[key]
                        count += 1
                        collect(future, cell)
                        finished(cfg, cell, f"{count}/{len(cells)}", log)


def collect(future: Future, cell: Cell) -> None:
    """Raise what a worker raised (a DeepgenError as it is: it speaks to the user), naming a worker that died."""
    try:
        future.result()
    except BrokenProcessPool:
        raise DeepgenError(
            f"a worker process died while it ran {cell.key} (killed, or out of memory); the same command continues "
            "with the cells that did not finish"
        ) from None


def start_worker(threads: int, slots: object) -> None:
    """A worker's set-up: its GPU (one of the visible ones, before CUDA starts) and its thread count."""
    gpu = slots.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    import torch

    torch.set_num_threads(threads)


def visible_gpus(cfg: AugmentConfig) -> list[int]:
    if cfg.device not in ("auto", "cuda"):
        return []
    import torch

    return list(range(torch.cuda.device_count()))


class CellTask:
    """One cell as a submitit task; a preempted or timed-out task is requeued (a generator resumes from its last
    checkpoint)."""

    def __call__(self, cfg: AugmentConfig, cell: Cell) -> str:
        return run_cell(cfg, cell)

    def checkpoint(self, cfg: AugmentConfig, cell: Cell) -> object:
        import submitit

        return submitit.helpers.DelayedSubmission(self, cfg, cell)


class Submitit:
    """Waves of cells as job arrays (SLURM, or submitit's local executor): every cell whose needs are met, then
    the cells those made ready. A task that fails is reported and stays missing."""

    @staticmethod
    def executor(cfg: AugmentConfig) -> object:
        try:
            import submitit
        except ImportError:
            raise ConfigError(f"--launcher {cfg.launcher} needs submitit: pip install 'deepgen[slurm]'") from None
        cluster = "slurm" if cfg.launcher == "slurm" else "local"
        executor = submitit.AutoExecutor(folder=cfg.out / "submitit" / "%j", cluster=cluster)
        executor.update_parameters(**parameters(cfg))
        return executor

    @staticmethod
    def dry_run(cfg: AugmentConfig, cells: list[Cell], log: Log) -> None:
        from submitit.slurm.slurm import _make_sbatch_string

        for wave, group in enumerate(waves(cells), 1):
            sbatch = _make_sbatch_string(
                command="python -u -m submitit.core._submit " + str(cfg.out / "submitit" / "%j"),
                folder=cfg.out / "submitit" / "%j", job_name="deepgen-augment", map_count=len(group),
                **{k.removeprefix("slurm_"): v for k, v in sbatch_parameters(cfg).items()},
            )  # fmt: skip
            log(
                f"--dry-run: wave {wave}, a job array of {len(group)} task(s):" + "".join(f"\n  {c.key}" for c in group)
            )
            log(sbatch)

    @classmethod
    def run(cls, cfg: AugmentConfig, cells: list[Cell], log: Log) -> None:
        executor, pending, count = cls.executor(cfg), list(cells), 0
        while wave := ready(cfg, pending):
            for cell in wave:
                pending.remove(cell)
            jobs = executor.map_array(CellTask(), [cfg] * len(wave), wave)
            log(f"submitted a job array of {len(wave)} task(s): {jobs[0].job_id.split('_')[0]}")
            for job, cell in zip(jobs, wave):
                count += 1
                try:
                    job.result()
                except Exception as e:  # a failed task is a missing cell; its log is in the job's folder
                    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                    log(f"cell {count}/{len(cells)} {cell.key} failed ({type(e).__name__}: {first[:200]}; log: "
                        f"{job.paths.stderr})")  # fmt: skip
                    continue
                finished(cfg, cell, f"{count}/{len(cells)}", log)


def waves(cells: list[Cell]) -> list[list[Cell]]:
    """The cells in waves: each needs only cells of earlier waves (or cells already done)."""
    keys, placed, out = {c.key for c in cells}, set(), []
    left = list(cells)
    while left:
        wave = [c for c in left if all(k in placed or k not in keys for k in c.needs)]
        out.append(wave)
        placed |= {c.key for c in wave}
        left = [c for c in left if c.key not in placed]
    return out


def sbatch_parameters(cfg: AugmentConfig) -> dict[str, object]:
    s = cfg.slurm
    found = {"slurm_partition": s.partition, "slurm_account": s.account, "slurm_array_parallelism": s.parallel}
    found |= {"slurm_time": s.time, "slurm_cpus_per_task": s.cpus, "slurm_mem": f"{s.mem_gb}GB"}
    found |= {"slurm_gpus_per_node": s.gpus or None}
    return {k: v for k, v in found.items() if v is not None}


def parameters(cfg: AugmentConfig) -> dict[str, object]:
    """submitit's parameters: SLURM's (slurm_*) for --launcher slurm, the local executor's otherwise."""
    s = cfg.slurm
    if cfg.launcher == "slurm":
        return sbatch_parameters(cfg) | {"name": "deepgen-augment"}
    return {"timeout_min": s.time, "gpus_per_node": s.gpus, "cpus_per_task": s.cpus, "name": "deepgen-augment"}


LAUNCHERS = {"local": Local, "slurm": Submitit, "submitit-local": Submitit}
