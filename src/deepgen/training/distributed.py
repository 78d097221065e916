"""Data-parallel training under torchrun: one process per device, gradients averaged per phase.

Each process draws the same seeded global batch and keeps its slice, so N processes with per-process
batch B/N see exactly the images one process with batch B would. Gradients are averaged with one
all-reduce of the flattened gradients after each phase's backward pass. DistributedDataParallel's
module wrapper is not used: it syncs inside one forward/backward pair, while a GAN phase runs the
critic several times (real, fake, gradient-penalty interpolates with a double backward) and freezes the
other network; averaging per phase, as NVlabs' StyleGAN3 does, is the same arithmetic without those
constraints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from deepgen.errors import ConfigError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


SINGLE = World()


def join(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group torchrun describes in the environment (if any); returns the world and the
    device this process trains on (cuda:LOCAL_RANK under torchrun on GPUs)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return SINGLE, device
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world, device


def leave(world: World, finished: bool) -> None:
    """Leave the process group that `join` made. A finished process first waits for the others (a barrier): one
    that exited while another still used the group could abort at exit ("terminate called without an active
    exception"). After an error, leave at once."""
    if not world.distributed or not dist.is_initialized():
        return
    if finished:
        dist.barrier()
    dist.destroy_process_group()


def shard_batch_size(batch_size: int, world: World) -> None:
    if batch_size % world.size:
        raise ConfigError(f"--batch-size {batch_size} must be divisible by the number of processes ({world.size})")


def average_gradients(params: list[nn.Parameter], world: World) -> None:
    """Replace each gradient by its mean over the processes (one all-reduce)."""
    params = [p for p in params if p.grad is not None]
    if not world.distributed or not params:
        return
    flat = torch.cat([p.grad.flatten() for p in params])
    dist.all_reduce(flat)
    flat /= world.size
    for p, g in zip(params, flat.split([p.numel() for p in params])):
        p.grad.copy_(g.view_as(p.grad))


def mean(values: Tensor, world: World) -> Tensor:
    """The mean of `values` over the processes (NaN anywhere gives NaN everywhere)."""
    if world.distributed:
        values = values.clone()
        dist.all_reduce(values)
        values /= world.size
    return values


def any_process(flag: bool, world: World, device: torch.device) -> bool:
    """True on every process if `flag` is true on any."""
    if not world.distributed:
        return flag
    value = torch.tensor(float(flag), device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def broadcast_module(module: nn.Module, world: World) -> None:
    """Give every process rank 0's parameters and buffers."""
    if world.distributed:
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, 0)


def gather(obj: Any, world: World) -> list[Any]:
    """`obj` of every process, by rank."""
    if not world.distributed:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def share(obj: Any, world: World) -> Any:
    """Rank 0's `obj`, on every process."""
    if not world.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, 0)
    return box[0]


def sync_batchnorm(module: nn.Module, world: World, device: torch.device) -> nn.Module:
    """Batch statistics over all processes' slices of the batch (CUDA only)."""
    if not world.distributed:
        return module
    if device.type != "cuda":
        raise ConfigError("--sync-batchnorm needs CUDA devices (torch's SyncBatchNorm has no CPU implementation)")
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)
