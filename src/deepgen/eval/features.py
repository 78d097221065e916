"""Feature extractors for distribution metrics: uint8 images (N, C, H, W) in, one vector per image out.

- `classifier:DATASET`: the penultimate layer (global average pool, 4 x width) of a SmallCNN trained by
  deepgen on the real training split of DATASET (see deepgen.eval.evaluator). Images enter at their own
  size, as float in [-1, 1]; works offline on any dataset.
- `inception`: the 2048-d pool3 layer of the FID Inception-v3 (the TensorFlow graph of Heusel et al. 2017,
  as ported by torch-fidelity). Its weights are torch-fidelity's file, downloaded once (when online) into the
  torch hub cache where torch-fidelity keeps it ($TORCH_HOME/hub/checkpoints, by default
  ~/.cache/torch/hub/checkpoints), or read from --inception-weights PATH. Preprocessing follows
  torch-fidelity: uint8 RGB (grayscale repeated to 3 channels) resized to 299 x 299 by its
  TensorFlow-1.x-compatible bilinear interpolation without antialiasing, then (x - 128) / 128. This equals
  clean-fid's `legacy_tensorflow` mode, so numbers are comparable with papers that used the original TTUR
  code, not with clean-fid's `clean` mode.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from deepgen.classify.small_cnn import SmallCNN
from deepgen.data.imageset import to_float
from deepgen.errors import ConfigError, DeepgenError
from deepgen.io import hub_file

INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)


class FeatureExtractor(nn.Module):
    """Maps uint8 images to float features; `name` labels the metrics computed on them."""

    name: str
    num_features: int
    description: str

    def forward(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def extract(self, images: Tensor, batch_size: int = 250, precision: str = "fp32") -> Tensor:
        """Features (N, D) as float32 on the CPU, computed in channels-last memory format (2-3x faster on
        CPUs; the same numbers up to float rounding). precision="bf16" adds bfloat16 autocast: use it only
        where bench/fid_speed.py finds FID within 0.1% of fp32."""
        if precision not in ("fp32", "bf16"):
            raise ConfigError(f"feature precision must be fp32 or bf16, got {precision!r}")
        self.eval().to(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, torch.bfloat16, enabled=precision == "bf16"):
            return torch.cat(
                [
                    self(chunk.to(self.device).contiguous(memory_format=torch.channels_last)).float().cpu()
                    for chunk in images.split(batch_size)
                ]
            )


class ClassifierFeatures(FeatureExtractor):
    """Penultimate-layer features (and class logits) of a SmallCNN trained on real data."""

    def __init__(self, name: str, cnn: SmallCNN, shape: tuple[int, int, int], classes: list[str], info: dict):
        super().__init__()
        self.name, self.cnn, self.shape, self.classes, self.info = name, cnn.eval(), tuple(shape), list(classes), info
        self.num_features = cnn.head.in_features
        self.description = (
            f"{name}: {self.num_features}-d penultimate layer of evaluator {info.get('name')} (a CNN trained on the "
            f"real training split in {info.get('steps')} steps, {info.get('train_s')} s; test accuracy "
            f"{info.get('test_accuracy')}), images at their {shape[1]}x{shape[2]} size as float in [-1, 1]"
        )

    def check(self, shape: tuple[int, ...], what: str) -> None:
        if tuple(shape) != self.shape:
            c, h, w = self.shape
            raise ConfigError(
                f"{what} are {'x'.join(map(str, shape))} (channels x height x width) but the evaluator {self.name} "
                f"was trained on {c}x{h}x{w} images; use an evaluator of the same data settings"
            )

    def forward(self, images: Tensor) -> Tensor:
        return self.cnn.features(to_float(images))

    @torch.no_grad()
    def logits(self, images: Tensor, batch_size: int = 500) -> Tensor:
        """Class logits (N, K) on the CPU."""
        self.eval()
        return torch.cat([self.cnn(to_float(chunk.to(self.device))).cpu() for chunk in images.split(batch_size)])


class InceptionFeatures(FeatureExtractor):
    """pool3 features of the FID Inception-v3, from `weights` or the torch hub cache (downloaded if missing)."""

    name = "inception"
    num_features = 2048
    description = (
        "inception: 2048-d pool3 of the FID Inception-v3 (torch-fidelity port); uint8 RGB (grayscale repeated), "
        "resized to 299x299 by TF1-compatible bilinear interpolation without antialiasing, as torch-fidelity and "
        "clean-fid's legacy_tensorflow mode do"
    )

    def __init__(self, weights: str | Path | None = None):
        super().__init__()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        path = inception_weights(weights)
        with weights_only_loads():
            try:
                self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], str(path))
            except Exception as e:  # corrupt files, unsafe pickles and mismatched shapes fail in many ways
                if isinstance(e, pickle.UnpicklingError) and "Unsupported global" in str(e):
                    raise DeepgenError(
                        f"refusing to load {path}: it holds objects other than tensors and plain data, "
                        "which could run code"
                    ) from None
                raise DeepgenError(
                    f"cannot load Inception-v3 weights from {path}: it is not a readable copy of {INCEPTION_URL} "
                    f"({type(e).__name__})"
                ) from None

    def forward(self, images: Tensor) -> Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        return self.net(images.contiguous())[0]


def inception_weights(path: str | Path | None) -> Path:
    """The weights file given, or torch-fidelity's file in the torch hub cache, downloaded there (with its
    hash checked) if missing; a file that cannot be had fails with one line naming it and where to put it."""
    if path:
        given = Path(path).expanduser()
        if not given.is_file():
            raise DeepgenError(
                f"--inception-weights {given} does not exist; it should be torch-fidelity's {INCEPTION_URL}"
            )
        return given
    return hub_file(
        INCEPTION_URL, "Inception-v3", "pass it with --inception-weights PATH; --features classifier needs no download"
    )


@contextlib.contextmanager
def weights_only_loads() -> Iterator[None]:
    """Force every torch.load inside to weights_only=True (torch-fidelity asks for a full unpickle)."""
    before = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"]
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = before
