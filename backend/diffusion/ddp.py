"""Multi-GPU training under ``torchrun``: process-group setup and DDP wrapping.

``torchrun`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; with more than one process the
trainer wraps the model in ``DistributedDataParallel`` (nccl on CUDA, gloo on CPU). Each
rank trains on its own slice of every global batch, gradients are averaged, and only
rank 0 writes files or database rows. Without those variables everything is a no-op, so
the same code runs single-process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def context_from_env() -> DistContext:
    """The process's place in a ``torchrun`` launch (single process when unset)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return DistContext(rank, world, int(os.environ.get("LOCAL_RANK", str(rank))))


def init_distributed(device: torch.device) -> DistContext:
    """Join the process group when launched with several processes (idempotent)."""
    ctx = context_from_env()
    if ctx.distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", rank=ctx.rank, world_size=ctx.world_size)
    return ctx


def local_device(device: torch.device, ctx: DistContext) -> torch.device:
    """One GPU per process: rank ``local_rank`` takes ``cuda:local_rank``."""
    if device.type == "cuda" and ctx.distributed:
        torch.cuda.set_device(ctx.local_rank)
        return torch.device("cuda", ctx.local_rank)
    return device


def wrap(model: nn.Module, ctx: DistContext, device: torch.device) -> nn.Module:
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def mean_across(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The mean of a tensor over all ranks (the global-batch loss for the log)."""
    if not ctx.distributed:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / ctx.world_size


def any_rank(flag: bool, ctx: DistContext, device: torch.device) -> bool:
    """True on every rank when it is true on one (a cancel on rank 0 stops them all)."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def barrier(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.barrier()
