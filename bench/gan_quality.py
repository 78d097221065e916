"""Sample quality of the GAN family under one training budget, judged by a classifier trained on real data.

For each model: train it on mnist10k's training split for --steps, draw 1,000 samples and report the
mean top-class probability under the evaluator CNN trained on the same split (`deepgen evaluator`;
about 0.1 for noise, near 1 for clean digits), the class histogram of the samples and their FID
against the test split under the same network's features. Conditional models draw 100 per class and
also report how often the classifier names the class that was asked for.

    python bench/gan_quality.py --steps 2000 --out runs/bench-gan
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from deepgen.classify.fit import predict
from deepgen.config import DataConfig, RunConfig
from deepgen.device import resolve_device
from deepgen.eval.evaluate import Judge
from deepgen.eval.settings import Settings
from deepgen.run import open_run
from deepgen.sampling import balanced_labels, generate
from deepgen.training.trainer import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--models", nargs="*", default=["gan", "dcgan", "wgan", "wgan-gp"])
    parser.add_argument("--conditional", nargs="*", default=["dcgan", "wgan-gp"])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-gan"))
    args = parser.parse_args()
    device = resolve_device(args.device)
    judge = Judge(DataConfig(data="mnist10k"), Settings(device=str(device)))
    splits, classifier = judge.splits, judge.classifier.cnn
    started = time.perf_counter()
    test_accuracy = (predict(classifier, splits.test.images).argmax(1) == splits.test.labels).float().mean().item()
    noise = torch.randint(
        0, 256, (args.samples, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    results = {
        "classifier": {"test_accuracy": test_accuracy, "evaluator": judge.classifier.info.get("name")},
        "anchors": {
            "uniform noise": confidence(classifier, noise),
            "real test images": confidence(classifier, splits.test.images[: args.samples]),
        },
        "steps": args.steps,
        "device": str(device),
        "models": {},
    }
    runs = [(m, False) for m in args.models] + [(m, True) for m in args.conditional]
    for name, conditional in runs:
        key = f"c{name}" if conditional else name
        cfg = RunConfig.default(name)
        for option, value in {
            "steps": args.steps,
            "device": str(device),
            "out": str(args.out / key),
            "conditional": conditional,
            "log_every": 100,
            "sample_every": args.steps,
            "checkpoint_every": args.steps,
            "tensorboard": False,
        }.items():
            cfg.set(option, value)
        started = time.perf_counter()
        result = train(cfg)
        seconds = time.perf_counter() - started
        model = open_run(result.checkpoint).load(device).model
        labels = balanced_labels(len(model.classes), args.samples // len(model.classes)) if conditional else None
        images = generate(model, len(labels) if conditional else args.samples, seed=1, labels=labels)
        fid = next(m for m in judge.sample_metrics(images) if m.name == "fid")
        entry = {**confidence(classifier, images), "fid": fid.value, "train_s": round(seconds, 1)}
        entry["grid"] = str(result.outputs["samples"])
        if conditional:
            entry["asked_class_accuracy"] = (predict(classifier, images).argmax(1) == labels).float().mean().item()
        results["models"][key] = entry
        print(key, json.dumps(entry), flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(table(results))


def confidence(classifier: torch.nn.Module, images: torch.Tensor) -> dict:
    probs = predict(classifier, images)
    return {
        "mean_confidence": probs.max(1).values.mean().item(),
        "class_histogram": torch.bincount(probs.argmax(1), minlength=probs.shape[1]).tolist(),
    }


def table(results: dict) -> str:
    lines = [
        f"classifier test accuracy {results['classifier']['test_accuracy']:.4f}; "
        f"{results['steps']} steps on {results['device']}",
        "",
        "| images | mean confidence | asked-class accuracy | FID | train s | class histogram |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in {**results["anchors"], **results["models"]}.items():
        asked = f"{r['asked_class_accuracy']:.3f}" if "asked_class_accuracy" in r else ""
        fid = f"{r['fid']:.2f}" if "fid" in r else ""
        lines.append(
            f"| {name} | {r['mean_confidence']:.3f} | {asked} | {fid} | {r.get('train_s', '')} | "
            f"{r['class_histogram']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
