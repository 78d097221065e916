"""StyleGAN2: modulated convolutions, lazy R1 and path-length phases, exact resume, truncation, style mixing,
and class-conditional samples that a digits classifier recognises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from conftest import TINY_MODEL, tiny_config
from deepgen.classify.fit import predict
from deepgen.classify.small_cnn import train_classifier
from deepgen.cli import main
from deepgen.config import DataConfig, RunConfig, build
from deepgen.data import load_data
from deepgen.data.loader import Batch
from deepgen.errors import ConfigError
from deepgen.models.configs.adversarial import SCARCE_IMAGES
from deepgen.models.sizing import Sizing
from deepgen.models.stylegan import StyleGAN
from deepgen.nn.progressive import EqualConv2d
from deepgen.nn.style import ModulatedConv2d
from deepgen.run import WEIGHTS, latest_checkpoint, open_run
from deepgen.sampling import balanced_labels, generate
from deepgen.training.step import prepare
from deepgen.training.trainer import train


def stylegan(shape: tuple[int, int, int] = (1, 8, 8), **options: object) -> StyleGAN:
    torch.manual_seed(0)
    config = build(StyleGAN.Config, {**TINY_MODEL["stylegan"], **options}, "test")
    return StyleGAN(config, shape, [str(i) for i in range(10)])


def test_modulated_conv_with_unit_styles_and_no_demodulation_is_a_plain_conv() -> None:
    torch.manual_seed(0)
    mod = ModulatedConv2d(4, 5, 3, w_dim=6, demodulate=False)
    plain = EqualConv2d(4, 5, 3, gain=1.0, bias=False)
    plain.weight.data.copy_(mod.weight.data)
    x = torch.randn(2, 4, 7, 7)
    assert torch.allclose(mod.modulated(x, torch.ones(2, 4)), plain(x), atol=1e-6)
    assert torch.allclose(plain(x), F.conv2d(x, mod.weight / 6, padding=1), atol=1e-6)  # gain 1 / sqrt(4 * 3 * 3)


def test_demodulated_conv_is_the_per_sample_conv_with_normalised_weights() -> None:
    torch.manual_seed(0)
    mod = ModulatedConv2d(3, 4, 3, w_dim=2)
    x, styles = torch.randn(2, 3, 5, 5), torch.rand(2, 3) + 0.5
    for i in range(2):
        w = mod.weight / 3 * styles[i][None, :, None, None]
        w = w / w.square().sum((1, 2, 3), keepdim=True).add(1e-8).sqrt()
        assert torch.allclose(mod.modulated(x, styles)[i], F.conv2d(x[i : i + 1], w, padding=1)[0], atol=1e-5)
    # demodulated outputs keep unit scale whatever the styles' size
    assert torch.allclose(mod.modulated(x, styles), mod.modulated(x, 10 * styles), atol=1e-5)


class Quadratic(nn.Module):
    """D(x) = c * sum(x^2): grad D = 2 c x, so R1 = E[4 c^2 sum(x^2)]."""

    def __init__(self, c: float):
        super().__init__()
        self.c = nn.Parameter(torch.tensor(c))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.c * x.square().flatten(1).sum(1)


def test_lazy_r1_equals_the_hand_computed_penalty_times_its_interval() -> None:
    model = stylegan(r1_gamma=0.5, r1_interval=4)
    model.discriminator = Quadratic(0.3)
    x = torch.tensor([[[[1.0, -2.0], [0.5, 0.0]]], [[[0.0, 1.0], [1.0, 1.0]]]])  # sums of squares 5.25 and 3
    r1 = model.loss("Dreg", Batch(x, torch.zeros(2, dtype=torch.long))).terms["r1"]
    expected = 0.5 / 2 * 4 * (4 * 0.3**2 * (5.25 + 3) / 2)  # gamma / 2 * interval * E||grad||^2 = 1.485
    assert r1.item() == pytest.approx(expected, rel=1e-6)
    assert "r1" not in model.loss("D", Batch(x, torch.zeros(2, dtype=torch.long))).terms  # not in the main phase


def test_regularisation_phases_run_every_k_steps_with_rescaled_adam(tmp_path: Path) -> None:
    cfg = tiny_config("stylegan", tmp_path / "run", r1_interval=3, pl_weight=2.0, pl_interval=2)
    stepper = prepare(cfg, load_data(cfg.data), torch.device("cpu"))
    ran = [sorted(k for k in stepper()[0] if k.endswith("/loss") or k in ("Dreg/r1", "Greg/pl")) for _ in range(7)]
    assert [("Dreg/r1" in r, "Greg/pl" in r) for r in ran] == [
        (True, True), (False, False), (False, True), (True, False), (False, True), (False, False), (True, True)
    ]  # fmt: skip
    d, dreg, g, greg = stepper.phases
    assert (d.name, dreg.name, g.name, greg.name) == ("D", "Dreg", "G", "Greg")
    assert d.optimizer is dreg.optimizer and g.optimizer is greg.optimizer
    (group,) = d.optimizer.param_groups
    assert group["lr"] == pytest.approx(0.0025 * 3 / 4) and group["betas"][1] == pytest.approx(0.99 ** (3 / 4))
    assert g.optimizer.param_groups[0]["lr"] == pytest.approx(0.0025 * 2 / 3)


def test_resume_continues_bit_for_bit(tmp_path: Path) -> None:
    options = {"conditional": True, "r1_interval": 3, "pl_weight": 1.0, "pl_interval": 2, "augment": "adaptive",
               "ada_interval": 1, "ada_images": 64, "ada_target": 0.0, "checkpoint_every": 100}  # fmt: skip
    whole = train(tiny_config("stylegan", tmp_path / "whole", steps=8, **options))
    first = train(tiny_config("stylegan", tmp_path / "split", steps=5, **options))
    assert first.step == 5
    cfg = RunConfig.load(tmp_path / "split" / "config.yaml")
    cfg.train.steps = 8
    second = train(cfg, resume=True)
    a, b = (load_file(latest_checkpoint(r.run) / WEIGHTS) for r in (whole, second))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert {"ada_p", "pl_mean", "ema.module.body.w_avg", "ema.n_averaged"} <= a.keys() and float(a["ada_p"]) > 0
    losses = lambda run: [  # noqa: E731
        {k: v for k, v in json.loads(line).items() if "/" in k}
        for line in (run / "metrics.jsonl").read_text().splitlines()
        if json.loads(line)["step"] > 6  # at 6: the mean of steps 5-6 in one run, of step 6 in the other
    ]
    assert losses(whole.run) == losses(second.run) != []


def test_the_average_generator_starts_as_a_copy_and_samples() -> None:
    model = stylegan()
    model.after_step("G")  # the first update copies; the ramp keeps the next ones close to the generator
    ema = dict(model.ema.module.named_parameters())
    assert all(torch.equal(p, ema[name]) for name, p in model.generator.named_parameters())
    with torch.no_grad():
        model.generator.body.synthesis.const.add_(1.0)
    model.after_step("G")  # two updates: half-life 0.1 steps, weight 1 - 2^-10 on the new weights
    assert torch.allclose(model.ema.module.body.synthesis.const, model.generator.body.synthesis.const, atol=1e-2)


def test_truncation_to_zero_gives_the_mean_image_for_every_noise() -> None:
    model = stylegan(truncation=0.0).eval()
    with torch.no_grad():
        model.sampler().body.w_avg.normal_()
        images = model.sample(3, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(images[0], images[1]) and torch.allclose(images[0], images[2])
        model.config.truncation = 1.0
        images = model.sample(3, generator=torch.Generator().manual_seed(0))
        assert not torch.allclose(images[0], images[1])


@pytest.mark.parametrize("arch", ["skip", "resnet"])
def test_style_mixing_grid_keeps_each_source_in_the_first_row_and_column(arch: str) -> None:
    model = stylegan((1, 28, 28), g_arch=arch).eval()  # 3 resolutions, 6 style layers
    rows, cols = torch.randn(2, 8), torch.randn(3, 8)
    with torch.no_grad():
        grid = model.style_mix(rows, cols).unflatten(0, (3, 4))
        assert torch.equal(grid[0, 0], torch.full((1, 28, 28), -1.0))
        assert torch.allclose(grid[0, 1:], model.decode(cols), atol=1e-5)
        assert torch.allclose(grid[1:, 0], model.decode(rows), atol=1e-5)
        model.config.mix_crossover = 6  # every layer from the rows: no mixing left
        with pytest.raises(ConfigError, match="mix-crossover"):
            model.style_mix(rows, cols)
        model.config.mix_crossover = 1
        assert not torch.allclose(model.style_mix(rows, cols).unflatten(0, (3, 4))[1, 1], grid[1, 1])


def test_generator_mixes_styles_while_training_only() -> None:
    body = stylegan(style_mixing=0.9).generator.body
    inputs = torch.randn(64, 8)
    body.train()
    ws = body.styles(inputs)
    mixed = (ws != ws[:, :1]).any(2).any(1).float().mean()
    assert 0.7 < mixed <= 1.0  # probability 0.9
    body.eval()
    assert not (body.styles(inputs) != body.styles(inputs)[:, :1]).any()


def test_sample_command_writes_a_style_mixing_grid_and_takes_truncation(tmp_path: Path) -> None:
    run = train(tiny_config("stylegan", tmp_path / "run", conditional=True)).run
    assert (
        main(["sample", str(run), "--style-mix", "3", "--truncation", "0.7", "--out", str(tmp_path / "mix.png")]) == 0
    )
    from PIL import Image

    assert Image.open(tmp_path / "mix.png").size == (4 * 8 + 5 * 2, 4 * 8 + 5 * 2)
    assert main(["sample", str(run), "--style-mix", "3", "--out", str(tmp_path / "mix.npz")]) == 2
    assert main(["sample", str(run), "--n", "4", "--truncation", "0.5", "--out", str(tmp_path / "s")]) == 0


def conditional_digits_accuracy(tmp_path: Path, steps: int) -> float:
    """Asked-class accuracy of 20 samples per class from a conditional StyleGAN trained `steps` steps on digits,
    judged by a small CNN trained on digits (99.7% on the test split)."""
    splits = load_data(DataConfig(data="digits"))
    cnn = train_classifier(splits.train, steps=300, batch_size=64, width=16, outlier_weight=0.0)
    assert (predict(cnn, splits.test.images).argmax(1) == splits.test.labels).float().mean() > 0.95
    options = {"channel_base": 128, "channel_max": 32, "noise_dim": 32, "mapping_layers": 2, "lr_g": 0.005,
               "lr_d": 0.005, "batch_size": 32, "log_every": 50, "sample_every": steps,
               "checkpoint_every": steps}  # fmt: skip
    result = train(tiny_config("stylegan", tmp_path / "run", steps=steps, conditional=True, **options))
    model = open_run(result.run).load(torch.device("cpu")).model
    labels = balanced_labels(10, 20)
    return (predict(cnn, generate(model, len(labels), 0, labels)).argmax(1) == labels).float().mean().item()


def test_conditional_samples_are_of_the_asked_class_after_a_short_run(tmp_path: Path) -> None:
    """200 steps (about 15 s): at least 35% (chance: 10%); measured 51.5%."""
    assert conditional_digits_accuracy(tmp_path, 200) >= 0.35


@pytest.mark.slow
def test_conditional_samples_are_of_the_asked_class_after_a_longer_run(tmp_path: Path) -> None:
    """1000 steps (about a minute): at least 80%."""
    assert conditional_digits_accuracy(tmp_path, 1000) >= 0.8


def test_scarce_data_gets_ada_and_a_cpu_no_style_mixing() -> None:
    def sized(images: int, device: str) -> dict:
        return RunConfig.default("stylegan").size_to(Sizing(28, 1, images, device, n_classes=10))

    assert (sized(SCARCE_IMAGES - 1, "cpu")["augment"], sized(SCARCE_IMAGES, "cpu")["augment"]) == ("adaptive", "off")
    assert (sized(8000, "cpu")["style_mixing"], sized(8000, "cuda")["style_mixing"]) == (0.0, 0.9)


def test_the_class_projection_is_scaled_to_the_feature_width() -> None:
    critic = stylegan(conditional=True).discriminator
    x, labels = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        h = critic.features(x)
        projection = (critic.embed(labels) * h).sum(1) / h.shape[1] ** 0.5
        assert torch.allclose(critic(x, labels), critic.head(h).squeeze(1) + projection, atol=1e-5)
