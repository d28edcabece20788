"""torch.distributed at the edge: initialise from torchrun's environment, shard ranges, gather arrays in order,
and let rank 0 decide for all (a refusal reaches every rank, so none waits at a barrier for one that left)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from benchmark.device import local_rank, world_size
from benchmark.errors import InputError


@dataclass(frozen=True)
class World:
    rank: int
    size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device: str = "cpu") -> World:
    """Join the process group torchrun describes (WORLD_SIZE > 1); a single process needs no group.

    NCCL on CUDA devices, gloo on CPU.
    """
    size = world_size()
    if size <= 1:
        return World(0, 1)
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank())
        dist.init_process_group(backend=backend)
    return World(dist.get_rank(), dist.get_world_size())


def current_world() -> World:
    """The world this process belongs to (single process when no group is initialised)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World(0, 1)


def shard_range(n: int, world: World) -> tuple[int, int]:
    """Contiguous [start, stop) slice of n items for this rank; ranks in order cover 0..n exactly."""
    start = n * world.rank // world.size
    stop = n * (world.rank + 1) // world.size
    return start, stop


def gather_rows(array: np.ndarray, world: World) -> np.ndarray:
    """Concatenate each rank's rows in rank order (every rank receives the result)."""
    if world.size == 1:
        return array
    local = torch.from_numpy(np.ascontiguousarray(array))
    if dist.get_backend() == "nccl":
        local = local.cuda()
    counts = [torch.zeros(1, dtype=torch.int64, device=local.device) for _ in range(world.size)]
    dist.all_gather(counts, torch.tensor([local.shape[0]], dtype=torch.int64, device=local.device))
    max_rows = int(max(c.item() for c in counts))
    padded = torch.zeros((max_rows, *local.shape[1:]), dtype=local.dtype, device=local.device)
    padded[: local.shape[0]] = local
    chunks = [torch.empty_like(padded) for _ in range(world.size)]
    dist.all_gather(chunks, padded)
    return torch.cat([c[: int(n.item())] for c, n in zip(chunks, counts)]).cpu().numpy()


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def main_decides(world: World, attempt: Callable[[], None]) -> None:
    """Run `attempt` on rank 0 only and share its outcome: an InputError it raises is raised on every rank."""
    error: InputError | None = None
    if world.is_main:
        try:
            attempt()
        except InputError as err:
            error = err
    if world.size > 1:
        outcome = [None if error is None else (error.message, error.path)]
        dist.broadcast_object_list(outcome, src=0)
        if error is None and outcome[0] is not None:
            error = InputError(*outcome[0])
    if error is not None:
        raise error
