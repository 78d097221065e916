"""Training a classifier with early stopping on a validation split, optionally with classic augmentation."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.transforms import v2

from deepgen.data.imageset import ImageSet, to_float
from deepgen.data.loader import Batches
from deepgen.eval.classifier import EarlyStopping


@dataclass
class FitConfig:
    max_steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    eval_every: int = 50
    patience: int = 6  # evaluations without a better validation accuracy before stopping
    pretrain_steps: int = 500  # layer-wise pretraining of the stacked-autoencoder classifier


def classic_augmentation(flip: bool) -> v2.Transform:
    """Small random affine changes (rotation, shift, scale), and horizontal flips when `flip`."""
    affine = v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), fill=-1.0)
    return v2.Compose([v2.RandomHorizontalFlip(), affine]) if flip else affine


def fit(
    model: nn.Module,
    train: ImageSet,
    val: ImageSet,
    cfg: FitConfig,
    device: torch.device,
    seed: int,
    augment: v2.Transform | None = None,
) -> dict[str, float]:
    """Train `model` in place with Adam; keep the weights with the best validation accuracy."""
    torch.manual_seed(seed)
    model.to(device)
    if hasattr(model, "pretrain"):
        model.pretrain(to_float(train.images).to(device), steps=cfg.pretrain_steps, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    batches = Batches(train, min(cfg.batch_size, len(train)), device, seed)
    early = EarlyStopping(val, cfg.eval_every, cfg.patience)
    model.train()
    for step in range(1, cfg.max_steps + 1):
        x, y = batches.next()
        if augment is not None:
            x = torch.stack([augment(image) for image in x])
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if early(model, step, last=step == cfg.max_steps):
            break
    early.restore(model)
    model.eval()
    return {"val_accuracy": early.best, "best_step": early.best_step, "steps": early.steps}


@torch.no_grad()
def predict_labels(model: nn.Module, images: Tensor, device: torch.device, batch_size: int = 500) -> Tensor:
    """Predicted classes of uint8 images."""
    model.eval()
    return torch.cat([model(to_float(chunk.to(device))).argmax(1).cpu() for chunk in images.split(batch_size)])
