"""The memory a model needs, estimated before anything is allocated: a twin of the model built and run on PyTorch's
meta device (shapes only, no data), so that a size that would exhaust the machine (an image size, a batch, a
width, a code size, a grid of samples) is refused in one line (see deepgen.limits) before the data is resized or
the model built or run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from deepgen.config import RunConfig, flag
from deepgen.data.loader import Batch
from deepgen.limits import human, image_bytes, need_memory
from deepgen.models.base import GenerativeModel
from deepgen.models.sizing import Sizing, default_batch
from deepgen.registry import get_model

ADAM_COPIES = 4  # weights, their gradients and Adam's two moments
BACKWARD_COPIES = 2  # each layer's output kept for the backward pass, and its gradient
GENERATION_BATCH = 500  # images generated in one pass (deepgen.sampling.generate)
OUTPUT_COPIES = 4  # generated uint8 images: the chunks, their concatenation, and the buffers of the file written
INFERENCE_COPIES = 4  # without gradients: about the largest layer's input, output and a skip connection or two


def meta_twin(name: str, config: Any, shape: tuple[int, int, int], classes: list[str]) -> GenerativeModel:
    """Model `name` built on the meta device: its parameters have shapes but no memory."""
    with torch.device("meta"):
        return get_model(name)(config, shape, classes)


def activation_bytes(model: GenerativeModel, run: Callable[[GenerativeModel], Any]) -> tuple[int, int]:
    """(all, largest): bytes of every layer's outputs, and of the largest one, while `run(model)` runs on the meta
    twin `model`; a call the meta device cannot run to the end (a rare operator) counts the layers it reached."""
    kept = [0, 0]

    def count(module: Any, inputs: Any, output: Any) -> None:
        for t in output if isinstance(output, (tuple, list)) else [output]:
            if isinstance(t, torch.Tensor):
                kept[0] += t.numel() * t.element_size()
                kept[1] = max(kept[1], t.numel() * t.element_size())

    hooks = [m.register_forward_hook(count) for m in model.modules() if not any(m.children())]
    try:
        with torch.device("meta"):
            run(model)
    except (RuntimeError, NotImplementedError, TypeError, ValueError, IndexError):
        pass
    finally:
        for h in hooks:
            h.remove()
    return kept[0], kept[1]


def check_training_memory(
    cfg: RunConfig, n: int, shape: tuple[int, int, int], classes: list[str], device: torch.device
) -> None:
    """A ConfigError when training `cfg` on `n` images of `shape` cannot fit in `device`'s free memory: the
    weights with their gradients and Adam state, and what one training step keeps for its backward pass (every
    layer's output, and its gradient)."""
    c, size, _ = shape
    batch = min(cfg.train.batch_size or default_batch(Sizing(size, c, n, device.type)), n)
    model = meta_twin(cfg.model, cfg.model_config, shape, classes)
    weights = sum(p.numel() * p.element_size() for p in model.parameters()) * ADAM_COPIES
    x, y = torch.zeros(batch, *shape, device="meta"), torch.zeros(batch, dtype=torch.long, device="meta")

    def step(m: GenerativeModel) -> None:
        for phase in m.phases():
            m.loss(phase.name, Batch(x, y))

    activations = activation_bytes(model, step)[0] * BACKWARD_COPIES
    need_memory(
        weights + activations,
        f"training {cfg.model} on {c}x{size}x{size} images, {batch} a batch "
        f"(weights, gradients and Adam state {human(weights)}, activations {human(activations)})",
        f"lower {flag('batch_size')} or {flag('image_size')}, or the model's widths and code sizes "
        "(see deepgen train MODEL --help)",
        device,
    )


def check_generation_memory(
    model: GenerativeModel,
    n: int,
    what: str,
    remedy: str,
    at_once: int = GENERATION_BATCH,
    run: Callable[[GenerativeModel], Any] | None = None,
) -> None:
    """A ConfigError when generating `n` images with `model` (kept as uint8 while written), `at_once` of them in one
    call of `run(model)` (default: sample), cannot fit in the free memory (the host's for the images, the model's
    device for the call)."""
    shape = "x".join(map(str, model.shape))
    need_memory(image_bytes(n, model.shape) * OUTPUT_COPIES, f"{what}: {n} images of {shape}", remedy)
    at_once = min(n, at_once)
    twin = meta_twin(model.name, model.config, model.shape, model.classes).eval()
    with torch.no_grad():
        largest = activation_bytes(twin, run or (lambda m: m.sample(at_once)))[1]
    need_memory(largest * INFERENCE_COPIES, f"{what}: {at_once} images in one pass", remedy, model.device)
