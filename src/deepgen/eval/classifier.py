"""A small CNN classifier trained on a real training split: it scores samples (confidence, class
agreement) and gives features for metrics on any dataset, offline."""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors
from torch import Tensor, nn
from tqdm.auto import tqdm

from deepgen.data.imageset import ImageSet, to_float
from deepgen.data.loader import Batches
from deepgen.errors import CheckpointError
from deepgen.io import atomic_write_bytes


class SmallCNN(nn.Module):
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


@dataclass
class EarlyStopping:
    """Checks accuracy on `val` every `every` steps (and at the last), keeps the weights that scored best,
    and says to stop after `patience` checks in a row without a better accuracy."""

    val: ImageSet
    every: int = 50
    patience: int = 6
    best: float = -1.0
    best_step: int = 0
    steps: int = 0
    waited: int = 0
    state: dict[str, Tensor] = field(default_factory=dict, repr=False)

    def __call__(self, model: nn.Module, step: int, last: bool = False) -> bool:
        """After training step `step`: True when training should stop."""
        self.steps = step
        if step % self.every and not last:
            return False
        training = model.training
        accuracy = (predict(model.eval(), self.val.images).argmax(1) == self.val.labels).float().mean().item()
        model.train(training)
        if accuracy > self.best:
            self.best, self.best_step, self.waited = accuracy, step, 0
            self.state = copy.deepcopy(model.state_dict())
        else:
            self.waited += 1
        return self.waited >= self.patience

    def restore(self, model: nn.Module) -> None:
        """Load the best weights into `model`."""
        model.load_state_dict(self.state)


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

    With `outlier_weight` > 0 each batch also holds as many outliers (see `outliers`), trained towards
    the uniform class distribution (outlier exposure, Hendrycks et al. 2019), so that the classifier is
    unsure of images that are not of any class. With `early`, training stops when its validation accuracy
    stops improving and the best weights are kept. `progress` names a progress bar (on stderr).
    """
    torch.manual_seed(seed)
    model = SmallCNN(data.shape[0], len(data.classes), width).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    batches = Batches(data, batch_size, torch.device(device), seed)
    bar = tqdm(
        total=steps,
        desc=progress,
        unit="step",
        dynamic_ncols=True,
        mininterval=0.1 if sys.stderr.isatty() else 10,
        disable=progress is None,
    )
    model.train()
    for step in range(1, steps + 1):
        x, y = batches.next()
        if outlier_weight > 0:
            logits = model(torch.cat([x, outliers(x)]))
            loss = F.cross_entropy(logits[: len(x)], y) - outlier_weight * logits[len(x) :].log_softmax(1).mean()
        else:
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        bar.update()
        if early is not None:
            stop = early(model, step, last=step == steps)
            if early.best_step:
                bar.set_postfix(best_val_acc=f"{early.best:.4f}", refresh=False)
            if stop:
                break
    bar.close()
    if early is not None:
        early.restore(model)
    return model.eval()


def outliers(x: Tensor) -> Tensor:
    """Images of no class, as many as `x`: a third each of uniform noise, flat grey levels, and images
    of `x` with their pixels shuffled."""
    a, b = len(x) // 3, 2 * len(x) // 3
    noise = torch.rand_like(x[:a]) * 2 - 1
    flat = (torch.rand(b - a, 1, 1, 1, device=x.device) * 2 - 1).expand_as(x[a:b])
    pixels = x[b:].flatten(1)
    shuffled = pixels.gather(1, torch.rand_like(pixels).argsort(1)).view_as(x[b:])
    return torch.cat([noise, flat, shuffled])


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, batch_size: int = 1000) -> Tensor:
    """Class probabilities (N, K) of uint8 images."""
    device = next(model.parameters()).device
    return torch.cat([model(to_float(chunk.to(device))).softmax(1).cpu() for chunk in images.split(batch_size)])


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
