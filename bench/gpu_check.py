"""GPU readiness in one command: correctness of every registered model under every speed lever, the
throughput table, end-to-end timing against what users run today, and two-process training; writes
OUT/gpu_check.json and OUT/gpu_check.md and exits 1 if a correctness check fails.

    python bench/gpu_check.py                                   # on a CUDA machine (meant for one H100)
    python bench/gpu_check.py --peer ~/examples/dcgan/main.py   # also time pytorch/examples' DCGAN on the same digits
    python bench/gpu_check.py --smoke                           # the same code paths on the CPU, tiny sizes

1. correctness: each registered model trains a few steps under each lever (fp32 eager; bf16 autocast;
   + channels-last; + torch.compile; + CUDA graphs) with finite losses (WGAN-GP's penalty and ProGAN's
   fade-in included); graph replays give the weights eager steps give; first-step gradients under bf16
   agree with fp32; `deepgen sample` and `deepgen eval` work on a run the kit trains; resume continues.
2. throughput: bench/train_throughput.py's table (baseline eager fp32, default, fast, fast + graphs).
3. end to end: `deepgen train dcgan --data mnist10k --image-size 64 --batch-size 64` for 20,000 images,
   process start included, and (with --peer) the official example on an ImageFolder of the same
   digits; the share of wall time outside the training step for 10,000 steps at batch 128.
4. two processes: torchrun with 2 processes (NCCL) trains the weights one process does with the same
   global batch (skipped with fewer than 2 GPUs; gloo on the CPU in --smoke).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from gpu_report import GRAD_TOLERANCE, GRAPH_TOLERANCE, checks, markdown, targets
from safetensors.torch import load_file
from train_throughput import MODELS, PATHS, device_name, end_to_end, measure, table, throughput

from deepgen.cli import main as deepgen
from deepgen.config import DataConfig, RunConfig
from deepgen.data import Splits, load_data
from deepgen.device import autocast
from deepgen.registry import models
from deepgen.run import WEIGHTS, latest_checkpoint
from deepgen.sampling import write_samples
from deepgen.training.step import prepare
from deepgen.training.trainer import train

LEVERS = {
    "fp32 eager": {"precision": "fp32"},
    "bf16": {"precision": "bf16"},
    "bf16 + channels-last": {"precision": "bf16", "channels_last": True},
    "bf16 + channels-last + compile": {"precision": "bf16", "channels_last": True, "compile": True},
    "bf16 + channels-last + compile + CUDA graphs": {
        "precision": "bf16", "channels_last": True, "compile": True, "cuda_graphs": True,
    },
}  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    data: str = "mnist10k"  # correctness checks: data, image size, batch, steps
    image_size: int = 32
    batch: int = 64
    steps: int = 20
    eval_flags: list[str] = field(default_factory=lambda: ["--n", "2000"])
    models: list[str] = field(default_factory=lambda: [*MODELS, "diffusion:32"])  # those registered
    batches: list[int] = field(default_factory=lambda: [64, 256, 1024])
    paths: list[str] = field(default_factory=lambda: list(PATHS))
    timed_steps: int = 20
    e2e_images: int = 20_000  # the user's job: images, size, batch
    e2e_size: int = 64
    e2e_batch: int = 64
    peer_workers: int = 8
    outside_steps: int = 10_000  # the share of wall time outside the step: steps at batch 128 (0: skip)
    two_steps: int = 20


SMOKE = Sizes(
    data="digits", image_size=8, batch=8, steps=2,
    eval_flags=["--n", "32", "--evaluator-steps", "20", "--cas-steps", "10"],
    models=["dcgan:8"], batches=[8], paths=["baseline", "default"], timed_steps=2,
    e2e_images=16, e2e_size=8, e2e_batch=8, peer_workers=0, outside_steps=0, two_steps=4,
)  # fmt: skip


@dataclass
class Kit:
    device: torch.device
    sizes: Sizes
    options: dict[str, dict[str, Any]]  # extra settings per model (e.g. tiny networks)
    work: Path
    peer: Path | None = None

    @property
    def smoke(self) -> bool:
        return self.device.type != "cuda"

    def config(self, name: str, settings: dict[str, Any], out: Path | None = None) -> RunConfig:
        """`name`'s default run at the kit's size, with the model options, a schedule short enough to pass
        through its stages within the checked steps, and `settings`."""
        s = self.sizes
        cfg = RunConfig.default(name)
        base = {"data": s.data, "image_size": s.image_size, "fit": "pad", "batch_size": s.batch}
        base |= {"device": str(self.device), "tensorboard": False, "out": str(out) if out else None}
        for key, value in {**base, **self.options.get(name, {}), **settings}.items():
            cfg.set(key, value)
        for key in ("stable_images", "fade_images"):  # ProGAN's growing, a stage per ~1/6 of the steps
            if hasattr(cfg.model_config, key):
                cfg.set(key, s.batch * max(1, s.steps // 6))
        if hasattr(cfg.model_config, "batch_sizes"):  # the kit's batch at every resolution, as the stages assume
            cfg.set("batch_sizes", [])
        return cfg

    def flags(self, name: str) -> list[str]:
        """The model options as `deepgen train` flags."""
        return [f"--set={k}={json.dumps(v)}" for k, v in self.options.get(name, {}).items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-check"), help="where the reports go")
    parser.add_argument("--smoke", action="store_true", help="the same code paths on the CPU with tiny sizes")
    parser.add_argument("--peer", type=Path, help="a copy of pytorch/examples' dcgan/main.py to time on the same data")
    parser.add_argument("--model-options", type=Path, help="JSON {model: {option: value}} applied to every run")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    args = parser.parse_args()
    if not args.smoke and not torch.cuda.is_available():
        parser.error("no CUDA device here; run with --smoke to check the code paths on the CPU")
    if args.peer and not args.peer.is_file():
        parser.error(f"--peer {args.peer} does not exist (expected a copy of pytorch/examples' dcgan/main.py)")
    try:
        options = json.loads(args.model_options.read_text()) if args.model_options else {}
    except (OSError, json.JSONDecodeError) as e:
        parser.error(f"--model-options {args.model_options}: expected a JSON file {{model: {{option: value}}}} ({e})")
    device = torch.device("cpu" if args.smoke else "cuda")
    work = args.out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    kit = Kit(device, SMOKE if args.smoke else Sizes(), options, work, args.peer)
    report: dict[str, Any] = {"device": device_name(device), "torch": torch.__version__, "smoke": args.smoke}
    report |= {"sizes": asdict(kit.sizes), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    report["seconds"], report["errors"] = {}, {}
    for section in args.sections:
        started = time.perf_counter()
        print(f"--- {section}", flush=True)
        try:
            report[section] = SECTIONS[section](kit)
        except Exception as e:  # noqa: BLE001  (a failed check in the report; the other sections still run)
            report["errors"][section] = f"{type(e).__name__}: {e}"[:1000]
        report["seconds"][section] = round(time.perf_counter() - started, 1)
    report["checks"], report["targets"] = checks(report), targets(report)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    (args.out / "gpu_check.md").write_text(markdown(report))
    print(f"wrote {args.out / 'gpu_check.md'} and {args.out / 'gpu_check.json'}")
    return 0 if all(c["ok"] for c in report["checks"]) else 1


# --- 1. correctness ---------------------------------------------------------------------------------


def correctness(kit: Kit) -> dict[str, Any]:
    s = kit.sizes
    splits = load_data(DataConfig(data=s.data, image_size=s.image_size, fit="pad"))
    runs, gradients = [], []
    for name in models():
        done: list[tuple[dict, torch.Tensor]] = []  # (settings, final weights) of each lever run
        for lever, settings in LEVERS.items():
            if kit.smoke and settings.get("compile"):
                if not settings.get("cuda_graphs"):
                    runs.append({"model": name, "lever": lever, "status": "skipped: compiling takes minutes on a CPU"})
                    continue
                settings = {k: v for k, v in settings.items() if k != "compile"}  # graphs' fallback, uncompiled
            run, weights = train_briefly(kit.config(name, settings), splits, kit.device, s.steps)
            runs.append({"model": name, "lever": lever, **run})
            eager = {k: v for k, v in settings.items() if k != "cuda_graphs"}
            twin = next((w for done_settings, w in done if done_settings == eager), None)
            if settings.get("cuda_graphs") and twin is not None and len(weights) == len(twin):
                runs[-1]["graph_vs_eager"] = relative_difference(weights, twin)
                if run["graph"] == "captured":  # how far eager runs drift apart by themselves on this GPU
                    runs[-1]["eager_vs_eager"] = relative_difference(
                        train_briefly(kit.config(name, eager), splits, kit.device, s.steps)[1], twin
                    )
            done.append((settings, weights))
        gradients.append(bf16_gradients(kit.config(name, {"precision": "fp32"}), splits, kit.device))
    return {"runs": runs, "gradients": gradients, "sample_eval": sample_and_eval(kit), "resume": resume(kit)}


def train_briefly(cfg: RunConfig, splits: Splits, device: torch.device, steps: int) -> tuple[dict, torch.Tensor]:
    """Train `steps` steps; the losses' first and last values, whether all were finite, the stages passed
    through and what became of CUDA graphs; and the final weights (flat)."""
    started = time.perf_counter()
    torch._dynamo.reset()  # compile afresh: networks share Module._call_impl, whose compiled versions dynamo caps
    try:
        stepper = prepare(cfg, splits, device)
        stepper.model.train()
        history, stages = [], [stepper.model.stage()]
        for _ in range(steps):
            history.append(stepper()[0])
            if stepper.model.stage() != stages[-1]:
                stages.append(stepper.model.stage())
        names = [k for k in history[0] if all(k in h for h in history)]  # lazy phases log only on their steps
        values = torch.stack([torch.stack([h[k].detach().float() for k in names]) for h in history]).cpu()
        weights = torch.cat([p.detach().float().flatten() for p in stepper.model.parameters()]).cpu()
    except Exception as e:  # noqa: BLE001  (reported, and the check fails)
        return {"status": f"error: {type(e).__name__}: {str(e)[:300]}", "seconds": 0.0}, torch.empty(0)
    bad = (~torch.isfinite(values)).nonzero().tolist()
    run = {
        "status": f"non-finite {names[bad[0][1]]} at step {bad[0][0] + 1}" if bad else "ok",
        "first": dict(zip(names, values[0].tolist())),
        "last": dict(zip(names, values[-1].tolist())),
        "stages": [stage for stage in stages if stage],
        "expects_penalty": getattr(cfg.model_config, "regularizer", None) == "gp",
        "graph": stepper.graph.status if stepper.graph else "",
        "seconds": round(time.perf_counter() - started, 2),
    }
    return run, weights


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return (torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b).clamp_min(1e-12)).item()


def bf16_gradients(cfg: RunConfig, splits: Splits, device: torch.device) -> dict[str, Any]:
    """Each phase's gradients on the initial weights and one batch (same noise), under bf16 autocast and
    fp32: the relative L2 error over all of the phase's parameters."""
    stepper = prepare(cfg, splits, device)
    stepper.model.train()
    errors = {}
    for phase in stepper.phases:
        stepper.switch.enable(phase)
        batch = stepper.draw()
        params = [p for g in phase.optimizer.param_groups for p in g["params"]]
        grads = []
        for precision in ("fp32", "bf16"):
            torch.manual_seed(cfg.train.seed + 1)
            with autocast(device, precision):
                terms = stepper.model.loss(phase.name, batch).terms
            found = torch.autograd.grad(sum(terms.values()), params, allow_unused=True)
            grads.append(
                torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(found, params)])
            )
        errors[phase.name] = relative_difference(grads[1].float(), grads[0].float())
    return {"model": cfg.model, "errors": errors, "ok": all(e <= GRAD_TOLERANCE for e in errors.values())}


def sample_and_eval(kit: Kit) -> dict[str, Any]:
    """`deepgen train`, `deepgen sample` and `deepgen eval` (in this process) on the kit's device."""
    s, run, pictures = kit.sizes, kit.work / "dcgan-run", kit.work / "dcgan-samples"
    codes = {
        "train": deepgen(
            [
                "train",
                "dcgan",
                "--data",
                s.data,
                "--image-size",
                str(s.image_size),
                "--fit",
                "pad",
                "--steps",
                str(s.steps),
                "--batch-size",
                str(s.batch),
                "--device",
                str(kit.device),
                "--out",
                str(run),
                "--no-tensorboard",
                *kit.flags("dcgan"),
            ]
        ),
    }
    codes["sample"] = deepgen(["sample", str(run), "--n", "16", "--out", str(pictures), "--device", str(kit.device)])
    codes["eval"] = deepgen(["eval", str(run), *s.eval_flags, "--eval-device", str(kit.device)])
    metrics_file = run / "metrics.json"
    metrics = json.loads(metrics_file.read_text()).get("eval", {}).get("metrics", {}) if metrics_file.is_file() else {}
    values = {k: v["value"] for k, v in metrics.items()}
    pngs = len(list(pictures.glob("*.png")))
    ok = not any(codes.values()) and pngs == 16 and bool(values) and all(map(math.isfinite, values.values()))
    return {"exit_codes": codes, "pngs": pngs, "metrics": values, "ok": ok}


def resume(kit: Kit) -> dict[str, Any]:
    """WGAN-GP (critic repeats, penalty): N steps at once, again, and N/2 + N/2 resumed; max |w difference|."""
    steps = kit.sizes.steps

    def run(out: str, n: int) -> Path:
        return train(kit.config("wgan-gp", {"steps": n, "sample_every": 10**6, "log_every": 1}, kit.work / out)).run

    whole, again, split = run("whole", steps), run("again", steps), run("split", steps // 2)
    cfg = RunConfig.load(split / "config.yaml")
    cfg.train.steps = steps
    train(cfg, resume=True)
    weights = [load_file(latest_checkpoint(r) / WEIGHTS) for r in (whole, again, split)]
    rerun, resumed = (max((w[k] - weights[0][k]).abs().max().item() for k in w) for w in weights[1:])
    return {
        "model": "wgan-gp",
        "steps": steps,
        "rerun_max_abs": rerun,
        "resume_max_abs": resumed,
        "ok": resumed <= 10 * rerun,
    }


# --- 2. throughput ------------------------------------------------------------------------------------


def throughput_table(kit: Kit) -> dict[str, Any]:
    s = kit.sizes
    specs = [spec for spec in s.models if spec.partition(":")[0] in models()]
    rows = measure(specs, s.batches, s.paths, kit.device, s.timed_steps, s.data, kit.options)
    return {"rows": rows, "table": table(rows, s.paths)}


# --- 3. end to end ------------------------------------------------------------------------------------


def end_to_end_timing(kit: Kit) -> dict[str, Any]:
    s, dev, tiny = kit.sizes, str(kit.device), kit.options.get("dcgan", {})
    steps = math.ceil(s.e2e_images / s.e2e_batch)
    rate = throughput(
        "dcgan", s.e2e_batch, tiny, load_data(DataConfig(image_size=s.e2e_size)), kit.device, s.timed_steps
    )
    user = end_to_end(steps, kit.work, dev, rate, s.e2e_batch, ["--image-size", str(s.e2e_size), *kit.flags("dcgan")])
    user["images_per_s"] = steps * s.e2e_batch / user["wall_s"]
    result = {"deepgen": user, "peer": peer(kit, steps * s.e2e_batch) if kit.peer else None, "outside": None}
    if s.outside_steps:
        rate = throughput("dcgan", 128, tiny, load_data(DataConfig()), kit.device, s.timed_steps)
        result["outside"] = end_to_end(s.outside_steps, kit.work, dev, rate, 128, kit.flags("dcgan"))
    return result


def peer(kit: Kit, images: int) -> dict[str, Any]:
    """pytorch/examples' DCGAN on an ImageFolder of deepgen's mnist10k training digits, for as many
    epochs as cover `images`; its own device flag (--accel in new versions, --cuda in old ones)."""
    s, folder = kit.sizes, kit.work / "mnist10k-folder"
    digits = load_data(DataConfig()).train
    write_samples(digits.images, folder, digits.labels, digits.classes)
    epochs = math.ceil(images / len(digits))
    usage = subprocess.run([sys.executable, str(kit.peer), "--help"], capture_output=True, text=True).stdout
    flag = next((f for f in ("--accel", "--cuda") if f in usage), None) if not kit.smoke else None
    command = [
        sys.executable,
        str(kit.peer),
        "--dataset",
        "folder",
        "--dataroot",
        str(folder),
        "--imageSize",
        str(s.e2e_size),
        "--batchSize",
        str(s.e2e_batch),
        "--niter",
        str(epochs),
        "--workers",
        str(s.peer_workers),
        "--outf",
        str(kit.work / "peer"),
        *([flag] if flag else []),
    ]
    (kit.work / "peer").mkdir(exist_ok=True)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    return {
        "command": " ".join(command),
        "exit_code": done.returncode,
        "error": done.stderr[-500:] * bool(done.returncode),
        "images": epochs * len(digits),
        "wall_s": round(wall, 2),
        "images_per_s": epochs * len(digits) / wall,
    }


# --- 4. two processes ---------------------------------------------------------------------------------


def two_processes(kit: Kit) -> dict[str, Any]:
    """torchrun --nproc-per-node 2 against one process, same global batch: the weights' relative difference.
    DCGAN with synchronised BatchNorm on GPUs (NCCL); a dense autoencoder on the CPU (gloo, no SyncBN)."""
    gpus = torch.cuda.device_count()
    if not kit.smoke and gpus < 2:
        return {"status": f"skipped: needs 2 GPUs, found {gpus}"}
    model = ["ae", "--arch", "dense", "--set=hidden=[32]"] if kit.smoke else ["dcgan", "--sync-batchnorm"]
    args = [
        "train",
        *model,
        "--data",
        kit.sizes.data,
        "--image-size",
        str(kit.sizes.image_size),
        "--fit",
        "pad",
        "--steps",
        str(kit.sizes.two_steps),
        "--batch-size",
        str(kit.sizes.batch),
        "--precision",
        "fp32",
        "--device",
        str(kit.device),
        "--no-tensorboard",
    ]
    one = deepgen([*args, "--out", str(kit.work / "one")])
    torchrun = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc-per-node", "2", "-m"]
    for attempt in ("two", "two-again"):  # again only if another job took the port torchrun had picked
        done = subprocess.run(
            [*torchrun, "deepgen", *args, "--out", str(kit.work / attempt)], capture_output=True, text=True
        )
        if "EADDRINUSE" not in done.stderr:
            break
    if one or done.returncode:
        return {"status": f"error: exit codes {one} and {done.returncode}: {done.stderr[-500:]}", "ok": False}
    a, b = (load_file(latest_checkpoint(kit.work / r) / WEIGHTS) for r in ("one", attempt))
    flat = [torch.cat([w[k].float().flatten() for k in sorted(w)]) for w in (a, b)]
    difference = relative_difference(flat[1], flat[0])
    return {
        "status": "ran",
        "backend": "gloo" if kit.smoke else "nccl",
        "relative_difference": difference,
        "ok": difference <= GRAPH_TOLERANCE,
    }


SECTIONS: dict[str, Callable[[Kit], dict[str, Any]]] = {
    "correctness": correctness,
    "throughput": throughput_table,
    "end_to_end": end_to_end_timing,
    "two_processes": two_processes,
}


if __name__ == "__main__":
    sys.exit(main())
