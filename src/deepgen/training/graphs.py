"""The whole training step as one CUDA graph (`--cuda-graphs`), for small batches where launching
hundreds of kernels per step costs more than running them.

Every phase, critic repeat, gradient penalty (double backward) and optimizer step of a step is captured
once and replayed each step, after a few eager warm-up steps; only the batches are copied into the
graph's input tensors before each replay (they are drawn exactly as in eager mode). Random numbers drawn
inside the step (noise, penalty interpolates) come from the CUDA generator, which graphs advance as
eager steps would.

A graph replays kernels with the Python values they were captured with, so capture needs a step that
does the same thing every time. The step falls back to eager training, with a warning naming the
reason, when it runs on a CPU or MPS, with fp16 (its loss scaler synchronises with the host), under
torchrun, when a phase runs only every few steps (lazy regularisation), when the last warm-up step makes
the host wait for the GPU (e.g. an EMA's `if n == 0` check), when a Python attribute of the model or
optimizers changes between warm-up steps (ProGAN's growing schedule), when batch shapes change, or when
capture fails. Randomness must come from torch on the
device: a value drawn with Python's `random` inside the step would be frozen at capture.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import torch
from torch import Tensor

from deepgen.data.loader import Batch
from deepgen.models.base import GenerativeModel, Phase
from deepgen.training.distributed import World

WARMUP_STEPS = 3
Output = tuple[dict[str, Tensor], dict[str, Tensor]]


class Stepper(Protocol):
    """What a graph needs of the eager step it captures (step.Stepper is one)."""

    model: GenerativeModel
    phases: list[Phase]
    device: torch.device
    precision: str
    world: World

    def draw(self) -> Batch: ...

    def run(self, draw: Callable[[], Batch]) -> Output: ...


def unavailable(stepper: Stepper) -> str | None:
    """Why this step cannot be captured as a CUDA graph (None if it can be tried)."""
    if stepper.device.type != "cuda":
        return f"CUDA graphs need a CUDA device, not {stepper.device.type}"
    if stepper.precision == "fp16":
        return "fp16 loss scaling synchronises with the host every step"
    if stepper.world.distributed:
        return "gradients are averaged across processes between the phases"
    lazy = next((p for p in stepper.phases if p.every > 1), None)
    if lazy is not None:
        return f"phase {lazy.name} runs only every {lazy.every} steps, so steps differ"
    return None


class StepGraph:
    """Runs `stepper`'s steps: eager warm-up steps, then one capture, then replays."""

    def __init__(self, stepper: Stepper):
        self.stepper = stepper
        self.warm = 0
        self.state: dict[str, Any] | None = None
        self.replay: Callable[[], None] | None = None
        self.inputs: list[Batch] = []
        self.keys: tuple[list[str], list[str]] = ([], [])
        self.flat = torch.empty(0)
        self.status = "warming up"
        reason = unavailable(stepper)
        if reason:
            self.fall_back(reason)

    @property
    def eager(self) -> bool:
        return self.status.startswith("fallback")

    def __call__(self) -> Output:
        s = self.stepper
        if self.eager:
            return s.run(s.draw)
        if self.replay is None and self.warm < WARMUP_STEPS:
            return self.warm_up()
        batches = [s.draw() for _ in range(sum(p.repeat for p in s.phases))]
        if self.replay is None:
            try:
                self.capture(batches)
            except Exception as e:  # noqa: BLE001  (any failure to capture means: train eagerly)
                self.fall_back(f"capture failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                return s.run(iter(batches).__next__)
        elif [b.x.shape for b in batches] != [b.x.shape for b in self.inputs]:
            self.fall_back("the batch shape changed between steps")
            return s.run(iter(batches).__next__)
        for static, batch in zip(self.inputs, batches):
            static.x.copy_(batch.x)
            static.y.copy_(batch.y)
        self.replay()
        values = self.flat.clone().unbind()  # the graph overwrites `flat` at the next replay
        terms, stats = self.keys
        return dict(zip(terms, values)), dict(zip(stats, values[len(terms) :]))

    def warm_up(self) -> Output:
        """An eager step on a side stream (as capture requires), its batches drawn first (as for replays);
        falls back if the last one (compilation done) waits for the host, or if the model's Python state
        changes between steps."""
        s = self.stepper
        batches = [s.draw() for _ in range(sum(p.repeat for p in s.phases))]
        last = self.warm == WARMUP_STEPS - 1
        with side_stream(s.device), host_syncs(s.device, last) as syncs:
            out = s.run(iter(batches).__next__)
        if syncs:
            self.fall_back(f"the step waits for the host: {syncs[0]}")
        state = python_state(s)
        if self.state is not None and state != self.state:
            changed = sorted(k for k in state.keys() | self.state.keys() if state.get(k) != self.state.get(k))
            self.fall_back(f"{', '.join(changed[:3])} changed between steps (a schedule a graph would freeze)")
        self.state, self.warm = state, self.warm + 1
        return out

    def capture(self, batches: list[Batch]) -> None:
        """Record one step reading its batches from `self.inputs`; it runs at the first replay."""
        s = self.stepper
        self.inputs = [Batch(b.x.clone(), b.y.clone()) for b in batches]
        with capturable([p.optimizer for p in s.phases]):
            for p in s.phases:
                p.optimizer.zero_grad(set_to_none=True)  # gradients get allocated inside the graph's memory
            self.replay, self.flat = cuda_graph(self.step_on_inputs)
        self.status = "captured"

    def step_on_inputs(self) -> Tensor:
        """A step on the batches in `self.inputs`; its loss terms and stats as one vector (names in `self.keys`)."""
        terms, stats = self.stepper.run(iter(self.inputs).__next__)
        self.keys = (list(terms), list(stats))
        return torch.stack([v.detach().float().reshape(()) for v in (*terms.values(), *stats.values())])

    def fall_back(self, reason: str) -> None:
        self.status = f"fallback: {reason}"
        warnings.warn(f"--cuda-graphs: training eagerly ({reason})", stacklevel=3)


def cuda_graph(step: Callable[[], Tensor]) -> tuple[Callable[[], None], Tensor]:
    """`step` captured as a CUDA graph (its kernels recorded, not run): the graph's replay, and the tensor
    `step` returns, which every replay overwrites."""
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = step()
    return graph.replay, out


@contextmanager
def side_stream(device: torch.device) -> Iterator[None]:
    """Run on a side stream (warm-up before a capture must), then make the current stream wait for it."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        yield
    torch.cuda.current_stream(device).wait_stream(side)


@contextmanager
def host_syncs(device: torch.device, check: bool = True) -> Iterator[list[str]]:
    """The CUDA operations inside the block that make the host wait (as PyTorch's sync debug mode reports
    them; a capture cannot hold them); filled in when the block ends. Other warnings pass through."""
    found: list[str] = []
    if not check or device.type != "cuda":
        yield found
        return
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield found
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    for w in caught:
        if "synchronizing CUDA operation" in str(w.message):
            found.append(str(w.message).splitlines()[0])
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def python_state(stepper: Stepper) -> dict[str, Any]:
    """The plain Python values (numbers, flags, strings) held by the model's modules and the optimizers'
    parameter groups: a graph would replay them as they were at capture."""
    state = {}
    for name, module in stepper.model.named_modules():
        for key, value in vars(module).items():
            if isinstance(value, (bool, int, float, str)):
                state[f"{name or 'model'}.{key}"] = value
    for phase in stepper.phases:
        for i, group in enumerate(phase.optimizer.param_groups):
            for key, value in group.items():
                if isinstance(value, (bool, int, float, str)):
                    state[f"{phase.name} optimizer group {i} {key}"] = value
    return state


@contextmanager
def capturable(optimizers: list[torch.optim.Optimizer]) -> Iterator[None]:
    """Optimizers with `capturable=True` (their step counters on the device) while a step is captured;
    the flags return to their values afterwards, so checkpoints are as without graphs."""
    groups = [(o, g) for o in optimizers for g in o.param_groups if "capturable" in g]
    saved = [g["capturable"] for _, g in groups]
    for optimizer, group in groups:
        group["capturable"] = True
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            if isinstance(state.get("step"), Tensor):
                state["step"] = state["step"].to(p.device)
    try:
        yield
    finally:
        for (_, group), flag in zip(groups, saved):
            group["capturable"] = flag
