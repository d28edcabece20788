"""Drop-in guided_diffusion.dist_util over torch.distributed alone (no mpi4py, no blobfile).

The reference scripts call `dist.get_world_size()`, `dist.all_gather`, `dist.barrier()` and wrap models in DDP
unconditionally, so `setup_dist()` always leaves a process group behind: under torchrun (WORLD_SIZE > 1) it joins
the group torchrun describes; a plain `python script.py` gets a one-process group over an in-memory store (no
ports, no environment needed). Differences from the reference: CUDA_VISIBLE_DEVICES is never rewritten (the
device is `cuda:LOCAL_RANK`), and `load_state_dict` reads local files with `torch.load(weights_only=True)` on
every rank instead of broadcasting bytes over MPI.
"""

from __future__ import annotations

import atexit
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from benchmark.device import local_rank, world_size
from benchmark.errors import InputError

__all__ = ["dev", "load_state_dict", "setup_dist", "sync_params"]


def setup_dist() -> None:
    """Create the process group once: NCCL when CUDA is available, else gloo (as the reference chooses)."""
    if dist.is_initialized():
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    if world_size() > 1:
        # torchrun exported MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE.
        dist.init_process_group(backend=backend, init_method="env://")
    else:
        dist.init_process_group(backend=backend, store=dist.HashStore(), rank=0, world_size=1)
    # The reference scripts never destroy the group; a gloo group left alive at interpreter exit can abort the
    # process ("terminate called without an active exception"), so it is destroyed at exit here.
    atexit.register(_destroy)


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def dev() -> torch.device:
    """This process's device: cuda:LOCAL_RANK when CUDA is available, else cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank())
    return torch.device("cpu")


def load_state_dict(path: str | Path, map_location: str | torch.device | None = None) -> dict[str, Any]:
    """A state dict (or optimizer state) from a local file; pickled code is refused (weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint file not found", path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"not a plain tensor checkpoint (weights_only load refused): {first}", path) from None
    except (RuntimeError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"unreadable checkpoint: {first}", path) from None


def sync_params(params: Iterable[torch.Tensor]) -> None:
    """Overwrite every tensor with rank 0's copy (no-op without a multi-process group)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    with torch.no_grad():
        for p in params:
            dist.broadcast(p, 0)
