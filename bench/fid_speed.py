"""Speed of feature extraction + FID for 10,000 images, deepgen's path beside torch-fidelity's fp32 path.

The 10,000 "generated" images are mnist10k blurred (Gaussian, sigma 1: a stand-in for a mediocre
generator, so that FID is of a typical size); the reference statistics (the unblurred images) are
computed beforehand and not timed. Each path extracts features of the 10,000 images and computes FID:

    deepgen fp32        FeatureExtractor.extract (channels-last) + torchmetrics FID
    deepgen bf16        the same under bfloat16 autocast; usable only where it agrees with fp32 within
                        0.1% FID
    torch-fidelity fp32 torch-fidelity's dataset feature loop (its DataLoader, batches of 64, the
                        network in its default memory format) and its numpy FID

for the classifier:mnist10k features and, when its weights are local, Inception-v3; on the CPU and on
the GPU when there is one. Each path runs --repeat times after a warm-up; the fastest run counts.

    python bench/fid_speed.py [--inception-weights PATH] [--inception-images 1000] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.utils import get_featuresdict_from_dataset
from torchvision.transforms.v2 import functional as TF

from deepgen.config import DataConfig
from deepgen.data import load_data
from deepgen.errors import DeepgenError
from deepgen.eval.evaluator import get_evaluator
from deepgen.eval.features import FeatureExtractor, InceptionFeatures
from deepgen.eval.metrics import frechet_distance

TOLERANCE = 0.001  # relative FID difference accepted for the bf16 channels-last path


class Images(Dataset):
    """uint8 images as torch-fidelity expects them (3 channels when `rgb`)."""

    def __init__(self, images: torch.Tensor, rgb: bool):
        self.images = images.expand(-1, 3, -1, -1) if rgb and images.shape[1] == 1 else images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


class Wrapped(FeatureExtractorBase):
    """A deepgen feature extractor in torch-fidelity's interface."""

    def __init__(self, features: FeatureExtractor):
        super().__init__("deepgen", ["features"])
        self.features = features

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return ("features",)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.features(x),)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def deepgen_path(features: FeatureExtractor, images: torch.Tensor, reference: torch.Tensor, precision: str) -> tuple:
    sync(features.device)
    started = time.perf_counter()
    fid = frechet_distance(reference, features.extract(images, precision=precision))
    return time.perf_counter() - started, fid


def fidelity_path(features: FeatureExtractor, images: torch.Tensor, reference: torch.Tensor, rgb: bool) -> tuple:
    cuda = features.device.type == "cuda"
    sync(features.device)
    started = time.perf_counter()
    out = get_featuresdict_from_dataset(Images(images, rgb), Wrapped(features), 64, cuda, False, False)
    stats = fid_features_to_statistics(out["features"].double())
    fid = fid_statistics_to_metric(fid_features_to_statistics(reference.double()), stats, False)
    return time.perf_counter() - started, fid["frechet_inception_distance"]


def best(run, repeat: int) -> tuple[float, float]:
    """The fastest of `repeat` runs after a warm-up: (seconds, FID)."""
    run()
    return min(run() for _ in range(repeat))


def measure(
    name: str, features: FeatureExtractor, images: torch.Tensor, real: torch.Tensor, rgb: bool, repeat: int
) -> list:
    reference = features.extract(real)
    rows = []
    for precision in ("fp32", "bf16"):
        seconds, fid = best(lambda p=precision: deepgen_path(features, images, reference, p), repeat)
        rows.append({"features": name, "path": f"deepgen {precision}", "seconds": seconds, "fid": fid})
    features.to(memory_format=torch.contiguous_format)
    seconds, fid = best(lambda: fidelity_path(features, images, reference, rgb), repeat)
    rows.append({"features": name, "path": "torch-fidelity fp32", "seconds": seconds, "fid": fid})
    fp32 = rows[0]["fid"]
    for row in rows:
        row |= {
            "device": str(features.device),
            "images": len(images),
            "img_per_s": len(images) / row["seconds"],
            "fid_vs_fp32": (row["fid"] - fp32) / fp32,
        }
    rows[1]["agrees"] = abs(rows[1]["fid_vs_fp32"]) < TOLERANCE
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="images whose features and FID are timed")
    parser.add_argument("--inception-weights", help="torch-fidelity's Inception-v3 weights (else the hub cache)")
    parser.add_argument("--inception-images", type=int, default=10_000, help="images for the Inception paths")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per path (the fastest counts)")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()

    splits = load_data(DataConfig(data="mnist10k"))
    real = torch.cat([splits.train.images, splits.test.images])
    real = real.repeat((args.n + len(real) - 1) // len(real), 1, 1, 1)[: args.n]
    generated = TF.gaussian_blur(real, [5, 5], [1.0, 1.0])
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        classifier = get_evaluator(splits, device=device)
        rows += measure(classifier.name, classifier, generated, real, rgb=False, repeat=args.repeat)
        try:
            inception = InceptionFeatures(args.inception_weights).to(device)
        except DeepgenError as e:
            print(f"inception on {device}: skipped: {e}")
            continue
        k = args.inception_images
        rows += measure("inception", inception, generated[:k], real[:k], rgb=True, repeat=args.repeat)
    print(
        f"feature extraction + FID, {torch.get_num_threads()} CPU threads; bf16 is usable only where |ΔFID| < "
        f"{TOLERANCE:.1%}\n"
    )
    print("| features | device | path | images | s | img/s | FID | ΔFID vs fp32 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        note = "" if "agrees" not in r else (" (agrees)" if r["agrees"] else " (DISAGREES: not used)")
        print(
            f"| {r['features']} | {r['device']} | {r['path']} | {r['images']} | {r['seconds']:.2f} | "
            f"{r['img_per_s']:,.0f} | {r['fid']:.4f} | {r['fid_vs_fp32']:+.4%}{note} |"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
