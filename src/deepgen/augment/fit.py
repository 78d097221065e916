"""Training a classifier with early stopping on a validation split, optionally with classic augmentation."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.transforms import v2

from deepgen.data.imageset import ImageSet, to_float
from deepgen.data.loader import Batches


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
    best, best_state, best_step, waited = -1.0, None, 0, 0
    for step in range(1, cfg.max_steps + 1):
        model.train()
        x, y = batches.next()
        if augment is not None:
            x = torch.stack([augment(image) for image in x])
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            accuracy = (predict_labels(model, val.images, device) == val.labels).float().mean().item()
            if accuracy > best:
                best, best_state, best_step, waited = accuracy, copy.deepcopy(model.state_dict()), step, 0
            else:
                waited += 1
                if waited >= cfg.patience:
                    break
    model.load_state_dict(best_state)
    model.eval()
    return {"val_accuracy": best, "best_step": best_step, "steps": step}


@torch.no_grad()
def predict_labels(model: nn.Module, images: Tensor, device: torch.device, batch_size: int = 500) -> Tensor:
    """Predicted classes of uint8 images."""
    model.eval()
    return torch.cat([model(to_float(chunk.to(device))).argmax(1).cpu() for chunk in images.split(batch_size)])
