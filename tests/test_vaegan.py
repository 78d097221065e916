"""VAE-GAN: the learned-similarity reconstruction term, one phase per network, training on MNIST."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import TINY_MODEL, tiny_config
from deepgen.config import build
from deepgen.data.loader import Batch
from deepgen.errors import ConfigError
from deepgen.registry import get_model
from deepgen.training.trainer import train

SHAPE = (1, 28, 28)  # two discriminator conv blocks: 14 px and 7 px


def tiny_vaegan(**options: object) -> nn.Module:
    cls = get_model("vae-gan")
    torch.manual_seed(0)
    return cls(build(cls.Config, {**TINY_MODEL["vae-gan"], **options}, "test"), SHAPE, [str(i) for i in range(10)])


def digits_batch(n: int = 6) -> Batch:
    g = torch.Generator().manual_seed(1)
    return Batch(torch.rand(n, *SHAPE, generator=g) * 2 - 1, torch.zeros(n, dtype=torch.long))


def block_output(model: nn.Module, x: torch.Tensor, block: int) -> torch.Tensor:
    """The discriminator's activations after conv block `block`, computed layer by layer."""
    h, seen = x, 0
    for layer in model.discriminator.features:
        h = layer(h)
        seen += isinstance(layer, nn.LeakyReLU)
        if seen == block:
            return h.flatten(1)
    raise AssertionError(f"no block {block}")


@pytest.mark.parametrize("block", [1, 2])
def test_recon_term_is_the_feature_distance_in_the_chosen_layer(block: int) -> None:
    model, b = tiny_vaegan(similarity_layer=block), digits_batch()
    torch.manual_seed(5)
    recon = model.loss("E", b).terms["recon"]
    torch.manual_seed(5)  # the same posterior sample as inside the loss
    mu, logvar = model.posterior(b.x)
    x_tilde = model.decode(mu + torch.randn_like(mu) * (0.5 * logvar).exp())
    expected = 0.5 * (block_output(model, x_tilde, block) - block_output(model, b.x, block)).square().sum(1).mean()
    assert torch.allclose(recon, expected, rtol=1e-5)


def test_changing_the_layer_changes_the_term() -> None:
    def recon(layer: int) -> float:
        torch.manual_seed(5)
        return tiny_vaegan(similarity_layer=layer).loss("E", digits_batch()).terms["recon"].item()

    assert recon(-1) == recon(2) and recon(-2) == recon(1)
    assert recon(1) != pytest.approx(recon(2), rel=1e-3)


def test_a_layer_the_discriminator_lacks_is_refused() -> None:
    with pytest.raises(ConfigError, match="similarity_layer.*2 conv blocks.*got 3"):
        tiny_vaegan(similarity_layer=3)


def test_gamma_weights_the_decoders_reconstruction_only() -> None:
    def terms(gamma: float) -> dict[str, float]:
        torch.manual_seed(5)
        return {k: v.item() for k, v in tiny_vaegan(gamma=gamma).loss("G", digits_batch()).terms.items()}

    one, three = terms(1.0), terms(3.0)
    assert three["recon"] == pytest.approx(3 * one["recon"], rel=1e-5) and one["recon"] > 0
    assert three["fake_recon"] == pytest.approx(one["fake_recon"]) and three["fake_prior"] == one["fake_prior"]


def test_each_network_has_its_own_phase() -> None:
    model = tiny_vaegan()
    phases = model.phases()
    owned = {p.name: {id(q) for g in p.optimizer.param_groups for q in g["params"]} for p in phases}
    nets = {"E": model.encoder, "G": model.decoder, "D": model.discriminator}
    assert [p.name for p in phases] == ["E", "G", "D"]
    assert all(owned[name] == {id(q) for q in net.parameters()} for name, net in nets.items())


def test_trains_on_mnist10k_with_finite_logged_terms(tmp_path: Path) -> None:
    result = train(tiny_config("vae-gan", tmp_path / "run", data="mnist10k", limit_per_class=8))
    rows = [json.loads(line) for line in (result.run / "metrics.jsonl").read_text().splitlines()]
    logged = {k for r in rows for k in r}
    assert {"E/kl", "E/recon", "G/recon", "G/fake_recon", "G/fake_prior", "D/real", "D/fake"} <= logged
    assert {"D/d_real", "D/d_fake_recon", "D/d_fake_prior"} <= logged
    assert all(math.isfinite(v) for r in rows if "health" not in r for v in r.values())  # health rows hold text
    assert all(0 <= r["D/d_real"] <= 1 for r in rows if "D/d_real" in r)
    assert math.isfinite(result.metrics["recon_mse"])
