"""Training checkpoints in a run directory: `checkpoints/state-<step:07d>.pt` (resume) and
`checkpoints/ema-<rate>-<step:07d>.safetensors` (EMA weights for sampling); their paths are the RunDir's.

State files are plain dicts of tensors, numbers and strings, written atomically with torch.save and read with
torch.load(weights_only=True). Milestone checkpoints are kept; of the others only the newest `keep_recent`
survive. A latest checkpoint that cannot be read is skipped with a message and the previous one is used.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from benchmark.errors import InputError
from benchmark.io.atomic import atomic_path
from runners.rundir import RunDir, rate_label

# ----------------------------------------------------------------------------------------------------------------


def save_state(run: RunDir, step: int, state: dict[str, Any]) -> Path:
    """Write `state` as checkpoints/state-<step>.pt atomically (temp file + fsync + rename)."""
    path = run.state(step)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def read_state(path: str | Path) -> dict[str, Any]:
    """torch.load(weights_only=True) of one state file; InputError when it cannot be read."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any decode failure means a damaged file
        raise InputError(f"cannot read checkpoint ({type(err).__name__}: {str(err)[:200]})", path) from None
    if not isinstance(obj, dict) or "step" not in obj or "model" not in obj:
        raise InputError("not an admbench training checkpoint (no 'step'/'model')", path)
    return obj


def load_latest_state(run: RunDir, log: Callable[[str], None]) -> dict[str, Any] | None:
    """The newest readable state checkpoint (falling back past damaged ones, each reported via `log`), or None."""
    for step in reversed(run.state_steps()):
        path = run.state(step)
        try:
            state = read_state(path)
        except InputError as err:
            log(f"checkpoint {path.name} is unreadable ({err}); falling back to the previous one")
            continue
        if int(state["step"]) != step:
            log(f"checkpoint {path.name} holds step {state['step']}; falling back to the previous one")
            continue
        return state
    return None


def state_problem(run: RunDir, step: int) -> str | None:
    """Why checkpoints/state-<step>.pt cannot be resumed from (missing, truncated, another step), or None.

    Memory-maps the file: the zip directory and the pickled structure are read, the tensor data is not.
    """
    path = run.state(step)
    if not path.is_file():
        return f"{path.name} is missing"
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - any decode failure means a damaged file
        return f"{path.name} is unreadable ({type(err).__name__}: {str(err)[:120]})"
    if not isinstance(obj, dict) or "model" not in obj or obj.get("step") != step:
        return f"{path.name} is not the training checkpoint of step {step}"
    return None


def ema_problem(run: RunDir, rate: float, step: int) -> str | None:
    """Why checkpoints/ema-<rate>-<step>.safetensors cannot be sampled from (missing, truncated), or None."""
    path = run.ema(rate, step)
    if not path.is_file():
        return f"{path.name} is missing"
    try:
        with safe_open(str(path), framework="pt") as f:  # checks the header covers the whole file
            f.keys()
    except Exception as err:  # noqa: BLE001
        return f"{path.name} is unreadable ({type(err).__name__}: {str(err)[:120]})"
    return None


def checkpoint_problems(run: RunDir, step: int, ema_rates: tuple[float, ...]) -> list[str]:
    """What is missing or damaged among the state and EMA files of `step` (empty when all are usable)."""
    problems = [state_problem(run, step), *(ema_problem(run, rate, step) for rate in ema_rates)]
    return [p for p in problems if p is not None]


def prune(run: RunDir, milestones: tuple[int, ...], keep_recent: int = 2) -> None:
    """Delete state and EMA files that are neither milestones nor among the `keep_recent` newest states."""
    steps = run.state_steps()
    keep = set(milestones) | set(steps[-keep_recent:])
    for step in steps:
        if step not in keep:
            run.state(step).unlink(missing_ok=True)
    for rate, ema_steps in run.ema_steps().items():
        for step in ema_steps:
            if step not in keep:
                run.ema(rate, step).unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------------------------
# EMA weights for sampling


def save_ema(run: RunDir, rate: float, step: int, weights: dict[str, torch.Tensor], config: dict[str, Any]) -> Path:
    """checkpoints/ema-<rate>-<step>.safetensors with metadata {config (JSON), step, ema_rate}, atomically."""
    path = run.ema(rate, step)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}
    meta = {"config": json.dumps(config, sort_keys=True), "step": str(step), "ema_rate": rate_label(rate)}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def read_ema(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(weights, metadata) of an EMA safetensors file; InputError when it cannot be read."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            weights = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # noqa: BLE001
        raise InputError(f"cannot read EMA weights ({type(err).__name__}: {str(err)[:200]})", path) from None
    return weights, meta


# ----------------------------------------------------------------------------------------------------------------
# RNG state


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """The global torch RNG states (CPU, and the current CUDA device's when training on CUDA)."""
    state = {"torch_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["torch_cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["torch_cpu"])
    if device.type == "cuda" and "torch_cuda" in state:
        torch.cuda.set_rng_state(state["torch_cuda"], device)
