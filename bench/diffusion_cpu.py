"""Diffusion on a CPU: training speed of candidate settings, sampling speed, and the FID of a trained run's samples
under several samplers.

    python bench/diffusion_cpu.py --variants default old "patch=2;widths=[16,32]"     # training images/s, steps/s
    python bench/diffusion_cpu.py --sampling-variants default old --samplers ddim:20 dpm++:10   # sampling images/s
    python bench/diffusion_cpu.py --run RUN --samplers ddim:20 dpm++:10 --n 2000      # FID of a run per sampler

A variant is a name from VARIANTS or KEY=VALUE[;KEY=VALUE] (options as --set takes them); `default` is whatever the
code under PYTHONPATH sizes for 28 px on a CPU. Data: mnist10k (28 px), in memory; training speed is measured over
--steps steps after as many warm-up steps; sampling speed over --n images (batches of 500) after a warm-up batch.
"""

from __future__ import annotations

import argparse
import json

import torch
import yaml
from train_throughput import throughput

from deepgen.config import DataConfig, RunConfig
from deepgen.data import load_data
from deepgen.device import resolve_device

VARIANTS = {
    "default": {},
    "old": {"widths": [16, 32, 32], "attention_size": 16},  # the defaults before this bench (patch 1 when given)
}


def parse_variant(text: str) -> dict:
    if text in VARIANTS:
        return dict(VARIANTS[text])
    return {k: yaml.safe_load(v) for k, v in (pair.split("=", 1) for pair in text.split(";"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="*", default=[], help="training speed of these")
    parser.add_argument("--sampling-variants", nargs="*", default=[], help="sampling speed of fresh models of these")
    parser.add_argument("--run", help="a trained diffusion run: FID of its samples under each of --samplers")
    parser.add_argument("--samplers", nargs="*", default=["ddim:20"], help="SAMPLER:STEPS[:GUIDANCE]")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps (after as many warm-up steps)")
    parser.add_argument("--n", type=int, default=500, help="images to sample")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = resolve_device(args.device)
    splits = load_data(DataConfig(data="mnist10k"))
    for v in args.variants:
        images_s = throughput("diffusion", args.batch, parse_variant(v), splits, device, args.steps)
        report(variant=v, batch=args.batch, train_images_s=images_s, steps_s=images_s / args.batch)
    for v in args.sampling_variants:
        cfg = RunConfig.default("diffusion")
        for key, value in {"batch_size": args.batch, **parse_variant(v)}.items():
            cfg.set(key, value)
        model = build(cfg, splits, device)
        for spec in args.samplers:
            report(variant=v, sampler=spec, sample_images_s=sampling_speed(model, spec, args.n))
    if args.run:
        fid_per_sampler(args.run, args.samplers, args.n, device)


def build(cfg: RunConfig, splits, device: torch.device):  # noqa: ANN001, ANN201
    from deepgen.registry import get_model

    torch.manual_seed(0)
    return get_model("diffusion")(cfg.model_config, splits.train.shape, splits.train.classes).to(device).eval()


def set_sampler(model, spec: str) -> None:  # noqa: ANN001
    """SAMPLER:STEPS[:GUIDANCE] (guidance: the run's own when not given)."""
    sampler, steps, *guidance = spec.split(":")
    model.config.sampler, model.config.sample_steps = sampler, int(steps)
    if guidance:
        model.config.guidance = float(guidance[0])


def sampling_speed(model, spec: str, n: int) -> float:  # noqa: ANN001
    from deepgen.eval.evaluate import timed_generate

    set_sampler(model, spec)
    labels = torch.arange(n) % len(model.classes)
    return timed_generate(model, n, 0, labels)[1]


def fid_per_sampler(run: str, samplers: list[str], n: int, device: torch.device) -> None:
    from deepgen.eval.evaluate import Judge, timed_generate
    from deepgen.eval.settings import Settings
    from deepgen.run import open_run
    from deepgen.sampling import balanced_labels

    opened = open_run(run).load(device)
    model = opened.model.eval()
    judge = Judge(opened.config.data, Settings(n=n, device=str(device)))
    for spec in samplers:
        set_sampler(model, spec)
        labels = balanced_labels(len(model.classes), judge.n // len(model.classes))
        images, speed = timed_generate(model, len(labels), 0, labels)
        scores = {m.key: round(m.value, 4) for m in judge.sample_metrics(images, labels)}
        report(run=run, step=opened.step, sampler=spec, sample_images_s=speed, **scores)


def report(**row: object) -> None:
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    main()
