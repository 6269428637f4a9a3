"""Data parallelism under ``torchrun``: DistributedDataParallel, gloo on CPU, NCCL on CUDA.

``torchrun --nproc_per_node=N -m gsnas search ...`` starts N copies; each reads
its rank from the environment. All ranks draw the same global batches (same
seed, same augmentation) and each trains on its slice, so a run's global batch
is ``batch_size`` whatever N is. DDP averages the gradients; ProxSGD, applied
to identical weights and gradients, keeps every rank's weights identical
(checked at the end of each run). Only rank 0 writes files.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def launched() -> bool:
    """Started by torchrun (or another launcher) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def setup(device: torch.device) -> torch.device:
    """Join the process group when launched; the device of this process (its own GPU on CUDA)."""
    if not launched():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def check_batch(batch_size: int) -> None:
    if batch_size % world_size():
        raise ValueError(f"batch_size {batch_size} is not divisible by the {world_size()} processes")


def shard(*tensors):
    """This rank's contiguous slice of each (global) batch tensor."""
    if world_size() == 1:
        return tensors
    return tuple(t.chunk(world_size())[rank()] for t in tensors)


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model to train with: DDP around ``model`` when distributed, else ``model`` itself."""
    if world_size() == 1:
        return model
    device = next(model.parameters()).device
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def average_gradients(params) -> None:
    """Average gradients of parameters DDP does not own (DARTS' alphas) over the ranks."""
    if world_size() == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if grads:
        flat = torch.cat([g.flatten() for g in grads]).div_(world_size())
        dist.all_reduce(flat)
        for g, avg in zip(grads, flat.split([g.numel() for g in grads])):
            g.copy_(avg.view_as(g))


def sync_buffers(model: torch.nn.Module) -> None:
    """Rank 0's BatchNorm running statistics everywhere (DDP broadcasts them only before a forward)."""
    if world_size() > 1:
        for b in model.buffers():
            dist.broadcast(b, 0)


def sum_over_ranks(*values: float) -> list[float]:
    """Sum Python numbers (loss sums, counts) over the ranks."""
    if world_size() == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def weight_spread(*modules: torch.nn.Module) -> float:
    """Largest difference of any weight or buffer between ranks (0.0: identical, as they must be)."""
    if world_size() == 1:
        return 0.0
    flat = torch.cat([t.detach().flatten().double() for m in modules for t in (*m.parameters(), *m.buffers())])
    high, low = flat.clone(), flat.clone()
    dist.all_reduce(high, dist.ReduceOp.MAX)
    dist.all_reduce(low, dist.ReduceOp.MIN)
    return float((high - low).max())


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
