"""deepgen's small CNN: the evaluator's network (it scores samples and gives features for metrics on any dataset,
offline), CAS's, and the augmentation experiment's default; trained by `train_classifier`, saved as safetensors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors
from torch import Tensor, nn

from deepgen.classify.base import Classifier, Spec
from deepgen.classify.config import FitConfig
from deepgen.classify.fit import EarlyStopping, fit
from deepgen.data.imageset import ImageSet
from deepgen.errors import CheckpointError
from deepgen.io import atomic_write_bytes
from deepgen.registry import register_classifier


class SmallCNN(Classifier):
    """Three 3x3 conv blocks (BatchNorm, ReLU, 2x max-pool after the first two), global average pooling
    to a feature vector of 4 * width, and a linear classifier."""

    def __init__(self, channels: int, num_classes: int, width: int = 32):
        super().__init__()
        self.channels, self.num_classes, self.width = channels, num_classes, width

        def block(a: int, b: int) -> list[nn.Module]:
            return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]

        self.features = nn.Sequential(
            *block(channels, width),
            nn.MaxPool2d(2),
            *block(width, 2 * width),
            nn.MaxPool2d(2),
            *block(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


@register_classifier("small-cnn", "deepgen's small CNN (three conv blocks, global average pooling)")
def small_cnn(spec: Spec, variant: str) -> SmallCNN:
    return SmallCNN(spec.shape[0], spec.num_classes)


def train_classifier(
    data: ImageSet,
    steps: int = 1500,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    device: str = "cpu",
    outlier_weight: float = 0.5,
    width: int = 32,
    early: EarlyStopping | None = None,
    progress: str | None = None,
) -> SmallCNN:
    """Fit a SmallCNN to `data` with Adam and a cosine learning-rate decay over `steps`; returned in eval mode.

    With `outlier_weight` > 0 each batch also holds as many outliers (see fit.outliers), trained towards the uniform
    class distribution, so that the classifier is unsure of images that are not of any class. With `early`, training
    stops when its validation accuracy stops improving and the best weights are kept. `progress` names a progress
    bar (on stderr).
    """
    torch.manual_seed(seed)
    model = SmallCNN(data.shape[0], len(data.classes), width).to(device)
    cfg = FitConfig(max_steps=steps, batch_size=batch_size, lr=lr, cosine=True, outlier_weight=outlier_weight)
    fit(model, data, cfg, device, seed, early, progress=progress)
    return model


def save_classifier(model: SmallCNN, path: Path, info: dict[str, Any]) -> None:
    """Write the weights as safetensors, with the constructor arguments and `info` as metadata."""
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    args = {"channels": model.channels, "num_classes": model.num_classes, "width": model.width}
    atomic_write_bytes(path, save_safetensors(weights, metadata={"deepgen_classifier": json.dumps({**args, **info})}))


def load_classifier(path: Path, device: torch.device | str = "cpu") -> tuple[SmallCNN, dict[str, Any]]:
    """A SmallCNN (in eval mode) and the metadata saved with it."""
    try:
        with safe_open(path, framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
            meta = json.loads((f.metadata() or {}).get("deepgen_classifier", "null"))
        model = SmallCNN(meta["channels"], meta["num_classes"], meta["width"])
        model.load_state_dict(tensors)
    except (OSError, SafetensorError, ValueError, TypeError, KeyError, RuntimeError) as e:
        raise CheckpointError(f"cannot load the classifier {path}: {e!r}; delete it to train it again") from None
    return model.to(device).eval(), meta
