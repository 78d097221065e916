"""Capabilities declared on the model base class match what every registered model does."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from deepgen.config import build
from deepgen.models.base import GenerativeModel
from deepgen.registry import models

SHAPE = (1, 8, 8)
CLASSES = [str(i) for i in range(10)]


def build_model(name: str, **options: object) -> GenerativeModel:
    from conftest import TINY_MODEL

    cls = models()[name]
    torch.manual_seed(0)
    return cls(build(cls.Config, {**TINY_MODEL.get(name, {}), **options}, "test"), SHAPE, CLASSES).eval()


def works(call: object) -> bool:
    """Whether `call()` returns, or raises NotImplementedError (the base class's answer to a missing capability)."""
    try:
        with torch.no_grad():
            call()  # type: ignore[operator]
    except NotImplementedError:
        return False
    return True


def variants(name: str) -> list[dict[str, object]]:
    """Option sets that change a capability: conditional or not; a VAE's likelihood (bce) or none (mse)."""
    cls = models()[name]
    found = [{"conditional": c} for c in (False, True)] if cls.can_condition else [{}]
    return found + ([{"recon_loss": "mse"}] if name == "vae" else [])


CASES = [(name, options) for name in sorted(models()) for options in variants(name)]


@pytest.mark.parametrize(("name", "options"), CASES, ids=[f"{n}{o or ''}" for n, o in CASES])
def test_declared_capabilities_are_what_the_model_does(name: str, options: dict[str, object]) -> None:
    cls = models()[name]
    assert cls.can_condition == ("conditional" in {f.name for f in dataclasses.fields(cls.Config)})
    model = build_model(name, **options)
    x = torch.rand(4, *SHAPE) * 2 - 1
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert model.conditional == bool(options.get("conditional")) == cls.is_conditional(model.config)
    assert works(lambda: model.sample(4, g())) == model.can_sample
    assert works(lambda: model.encode(x)) == works(lambda: model.reconstruct(x)) == model.can_encode
    assert works(lambda: model.vary(x, 0.5, g(), torch.arange(4))) == model.can_vary
    assert works(lambda: model.importance_weighted_nll(x, 2, g())) == model.has_likelihood
    assert set(model.sampling_options) <= {f.name for f in dataclasses.fields(model.config)}


def test_likelihood_is_declared_only_where_a_density_exists() -> None:
    assert [n for n in sorted(models()) if build_model(n).has_likelihood] == ["vae"]
    assert not build_model("vae", recon_loss="mse").has_likelihood
    assert build_model("vae").importance_weighted_nll(torch.zeros(2, *SHAPE), 2).shape == (2,)
