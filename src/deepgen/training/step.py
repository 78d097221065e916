"""One training step: every phase of the model in turn, each repeated on fresh batches, with AMP and
(under torchrun) gradients averaged over the processes; optionally replayed as a CUDA graph (graphs.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from deepgen.config import RunConfig
from deepgen.data import Splits
from deepgen.data.loader import Batch, Batches
from deepgen.device import autocast, grad_scaler, resolve_precision
from deepgen.models.base import GenerativeModel, Phase, StepLoss
from deepgen.registry import get_model
from deepgen.training.distributed import SINGLE, World, average_gradients, sync_batchnorm
from deepgen.training.graphs import StepGraph


@dataclass
class Stepper:
    """Everything a training step needs; calling it runs one step and returns its loss terms and stats."""

    model: GenerativeModel
    phases: list[Phase]
    batches: Batches
    scalers: dict[str, torch.amp.GradScaler]
    device: torch.device
    precision: str
    batch_size: int
    layout: torch.memory_format = torch.contiguous_format
    world: World = SINGLE
    cuda_graphs: bool = False
    step: int = 0  # steps run so far (set on resume): phases with `every` > 1 run when it is a multiple
    switch: TrainableSwitch = field(init=False)
    graph: StepGraph | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.switch = TrainableSwitch(self.model, self.phases)
        if self.cuda_graphs:
            self.graph = StepGraph(self)

    def __call__(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        if self.graph is not None:
            return self.graph()
        return self.run(self.draw)

    def draw(self) -> Batch:
        """The next batch for one phase step."""
        return self.batches.next(self.model.current_batch_size(self.batch_size), self.layout)

    def run(self, draw: Callable[[], Batch]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """One step, each phase step on a batch from `draw`."""
        terms, stats = {}, {}
        for phase in self.phases:
            if self.step % phase.every:
                continue
            self.switch.enable(phase)
            outs = [
                optimize(
                    self.model,
                    phase,
                    draw(),
                    self.scalers[phase.name],
                    self.device,
                    self.precision,
                    self.world,
                )
                for _ in range(phase.repeat)
            ]
            terms.update(prefixed(phase.name, [o.terms for o in outs], total_term=True))
            stats.update(prefixed(phase.name, [o.stats for o in outs]))
        self.step += 1
        return terms, stats


def prepare(cfg: RunConfig, splits: Splits, device: torch.device, world: World = SINGLE) -> Stepper:
    """Build the model (seeded), its optimizers, loss scalers and batches as `cfg.train` asks."""
    t = cfg.train
    torch.manual_seed(t.seed)
    model = get_model(cfg.model)(cfg.model_config, splits.train.shape, splits.train.classes).to(device)
    if t.sync_batchnorm:
        model = sync_batchnorm(model, world, device)
    layout = torch.channels_last if t.channels_last else torch.contiguous_format
    model.to(memory_format=layout)
    if t.compile:
        torch._dynamo.config.suppress_errors = True  # fall back to eager where compilation fails
        for network in model.compile_targets():
            network.compile()
    phases = model.phases()
    precision = resolve_precision(t.precision, device)
    scalers = {p.name: grad_scaler(device, precision) for p in phases}
    batches = Batches(splits.train, t.batch_size, device, t.seed, cfg.data.hflip, shard=(world.rank, world.size))
    return Stepper(model, phases, batches, scalers, device, precision, t.batch_size, layout, world, t.cuda_graphs)


def optimize(
    model: GenerativeModel,
    phase: Phase,
    batch: Any,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    precision: str,
    world: World,
) -> StepLoss:
    """One optimizer step of `phase` on `batch` (gradients averaged over the processes)."""
    with autocast(device, precision):
        out = model.loss(phase.name, batch)
    phase.optimizer.zero_grad(set_to_none=True)
    scaler.scale(sum(out.terms.values())).backward()
    params = [p for g in phase.optimizer.param_groups for p in g["params"]]
    average_gradients(params, world)
    scaler.unscale_(phase.optimizer)
    grads = [p.grad for p in params if p.grad is not None]
    out.stats["grad_norm"] = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scaler.step(phase.optimizer)
    scaler.update()
    model.after_step(phase.name)
    return out


def prefixed(phase: str, outs: list[dict[str, Tensor]], total_term: bool = False) -> dict[str, Tensor]:
    """'phase/name' -> value averaged over the phase's repeats (plus 'phase/loss' when there are several terms)."""
    merged = {f"{phase}/{k}": sum(o[k] for o in outs) / len(outs) for k in outs[0]}
    if total_term and len(merged) > 1:
        merged[f"{phase}/loss"] = sum(merged.values())
    return merged


class TrainableSwitch:
    """With several phases, only the current phase's parameters require gradients."""

    def __init__(self, model: GenerativeModel, phases: list[Phase]):
        self.params = list(model.parameters())
        self.owned = {p.name: {id(x) for g in p.optimizer.param_groups for x in g["params"]} for p in phases}
        self.active = len(phases) > 1

    def enable(self, phase: Phase) -> None:
        if self.active:
            for p in self.params:
                p.requires_grad_(id(p) in self.owned[phase.name])
