"""Stacked-autoencoder classifier (Bengio et al. 2007): dense autoencoders pretrained greedily, layer by
layer, on the training images; their encoders are then stacked under a softmax layer and fine-tuned."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deepgen.classify.base import Classifier, Spec
from deepgen.registry import register_classifier


class StackedAutoencoderClassifier(Classifier):
    pretrains = True

    def __init__(self, shape: tuple[int, int, int], num_classes: int, hidden: tuple[int, ...] = (256, 64)):
        super().__init__()
        sizes = [shape[0] * shape[1] * shape[2], *hidden]
        self.encoders = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.decoders = nn.ModuleList(nn.Linear(b, a) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(sizes[-1], num_classes)

    def encode(self, x: Tensor, depth: int | None = None) -> Tensor:
        h = x.flatten(1)
        for encoder in self.encoders[:depth]:
            h = torch.sigmoid(encoder(h))
        return h

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encode(x))

    def pretrain(self, images: Tensor, steps: int = 500, batch_size: int = 64, lr: float = 1e-3, seed: int = 0) -> None:
        """Greedy layer-wise pretraining: autoencoder i learns to reconstruct the codes of layers < i
        (float images in [-1, 1] on the model's device; the first layer reconstructs pixels in [0, 1])."""
        g = torch.Generator().manual_seed(seed)
        for depth, (encoder, decoder) in enumerate(zip(self.encoders, self.decoders)):
            with torch.no_grad():
                inputs = self.encode(images, depth) if depth else (images.flatten(1) + 1) / 2
            optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=lr)
            for _ in range(steps):
                h = inputs[torch.randint(len(inputs), (batch_size,), generator=g).to(inputs.device)]
                loss = F.mse_loss(torch.sigmoid(decoder(torch.sigmoid(encoder(h)))), h)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()


@register_classifier("sae", "the stacked-autoencoder classifier (greedy layer-wise pretraining, then fine-tuning)")
def stacked_autoencoder(spec: Spec, variant: str) -> StackedAutoencoderClassifier:
    return StackedAutoencoderClassifier(spec.shape, spec.num_classes)
