"""Long runs, outside the default suite: `./scripts/test.sh -m slow`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from deepgen.classify.fit import predict
from deepgen.config import DataConfig, RunConfig
from deepgen.eval.evaluate import Judge
from deepgen.eval.settings import Settings
from deepgen.run import WEIGHTS
from deepgen.sampling import generate
from deepgen.training.trainer import train
from deepgen.weights import build_model

pytestmark = pytest.mark.slow


def test_dcgan_learns_recognisable_digits(tmp_path: Path) -> None:
    """1,500 steps on the shipped MNIST digits: the evaluator CNN (0.11 mean confidence on noise, 0.98 on real
    test digits) is fairly sure of the samples (0.79 measured), and they cover every digit."""
    cfg = RunConfig.default("dcgan")
    for key, value in {"steps": 1500, "device": "cpu", "out": str(tmp_path / "run"), "tensorboard": False}.items():
        cfg.set(key, value)
    result = train(cfg)
    model, _ = build_model(result.checkpoint / WEIGHTS, torch.device("cpu"))
    probs = predict(Judge(DataConfig(data="mnist10k"), Settings(device="cpu")).classifier.cnn, generate(model, 1000, 1))
    share = torch.bincount(probs.argmax(1), minlength=10) / 1000
    assert probs.max(1).values.mean() > 0.7
    assert (share > 0.03).all()
