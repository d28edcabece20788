"""Torch devices named by the user (`--device`): parsed, checked against this machine before anything runs, and
mapped to this process's device under torchrun (the one reader of LOCAL_RANK)."""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass

import torch

from benchmark.errors import InputError

_SYNTAX = re.compile(r"^(cpu|cuda|mps)(?::(\d+))?$")
_CHOICES = "cpu, cuda, cuda:N or mps"


class DeviceType(enum.Enum):
    """The device types the commands can run on."""

    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"


@dataclass(frozen=True)
class DeviceSpec:
    """A parsed device: its type and, for `cuda:N`, the index."""

    type: DeviceType
    index: int | None = None

    def __str__(self) -> str:
        return self.type.value if self.index is None else f"{self.type.value}:{self.index}"


@dataclass(frozen=True)
class Accelerators:
    """What this process can use: visible CUDA devices, whether torch has CUDA at all, MPS, torchrun's rank."""

    cuda_count: int
    cuda_built: bool
    mps: bool
    local_rank: int | None = None  # LOCAL_RANK under torchrun (WORLD_SIZE > 1), else None


def parse_device(text: str) -> DeviceSpec:
    """`cpu`, `cuda`, `cuda:N` or `mps` (case-insensitive, surrounding blanks ignored); InputError otherwise."""
    match = _SYNTAX.match(str(text).strip().lower())
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise InputError(f"{text!r} is not a device; use {_CHOICES}")
    index = None if match.group(2) is None else int(match.group(2))
    return DeviceSpec(DeviceType(match.group(1)), index)


def device_problem(spec: DeviceSpec, available: Accelerators) -> str | None:
    """Why `spec` cannot be used on a machine with `available` (None when it can)."""
    if spec.type is DeviceType.MPS and not available.mps:
        return "MPS (Apple GPU) is not available on this machine; use cpu"
    if spec.type is not DeviceType.CUDA:
        return None
    if available.cuda_count == 0:
        why = "no CUDA device is visible" if available.cuda_built else "this torch build has no CUDA support"
        return f"{why}; use cpu"
    if spec.index is not None and available.local_rank is not None:
        return (f"under torchrun every process would use cuda:{spec.index}; give --device cuda, and each process "
                "takes the GPU of its LOCAL_RANK")  # fmt: skip
    wanted = spec.index if spec.index is not None else available.local_rank
    if wanted is not None and wanted >= available.cuda_count:
        what = f"cuda:{wanted}" if spec.index is not None else f"LOCAL_RANK {wanted} (cuda:{wanted})"
        return (f"{what} does not exist: {available.cuda_count} CUDA device(s) visible "
                f"(cuda:0..cuda:{available.cuda_count - 1})")  # fmt: skip
    return None


def local_rank() -> int:
    """torchrun's LOCAL_RANK for this process (0 when torchrun did not start it); the one place it is read."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def world_size() -> int:
    """torchrun's WORLD_SIZE (1 when torchrun did not start this process); the one place it is read."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def global_rank() -> int:
    """torchrun's RANK (0 when torchrun did not start this process); the one place it is read."""
    return int(os.environ.get("RANK", "0"))


def rank_device(device: str, world_size: int) -> str:
    """The device this process runs `device` on: under torchrun (world_size > 1) `cuda` is cuda:LOCAL_RANK."""
    if world_size > 1 and device == DeviceType.CUDA.value:
        return f"cuda:{local_rank()}"
    return device


def machine_accelerators(world_size: int, local_rank: int) -> Accelerators:
    """The accelerators torch sees in this process (`local_rank` counts under torchrun only)."""
    mps = getattr(torch.backends, "mps", None)
    return Accelerators(
        cuda_count=torch.cuda.device_count(),
        cuda_built=torch.version.cuda is not None or torch.version.hip is not None,
        mps=bool(mps is not None and mps.is_available()),
        local_rank=local_rank if world_size > 1 else None,
    )


def check_device(text: str, available: Accelerators, option: str = "--device") -> str:
    """The canonical device string of `text` when this machine has it; one InputError naming `option` otherwise."""
    try:
        spec = parse_device(text)
    except InputError as err:
        raise InputError(f"{option}: {err}") from None
    problem = device_problem(spec, available)
    if problem is not None:
        raise InputError(f"{option} {spec}: {problem}")
    return str(spec)
