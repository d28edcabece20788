"""Strict checkpoint loading with one readable error for a checkpoint of another configuration."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from benchmark.errors import InputError

#: How many offending keys of each kind the error message lists before summarising.
_SHOWN = 5


def _listing(title: str, items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    more = f" (+{len(items) - _SHOWN} more)" if len(items) > _SHOWN else ""
    return f"{len(items)} {title}: {shown}{more}"


def state_dict_mismatches(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Human-readable list of missing, unexpected and mis-shaped keys (empty when the checkpoint fits)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(_listing("missing keys", missing))
    if unexpected:
        problems.append(_listing("unexpected keys", unexpected))
    if shapes:
        problems.append(_listing("mis-shaped keys", shapes))
    return problems


def load_checkpoint_strict(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], path: str | Path | None = None
) -> None:
    """load_state_dict(strict=True), but a mismatch raises one InputError listing every kind of problem.

    Values are cast to each parameter's current dtype (a float32 checkpoint loads into an fp16 torso).
    """
    problems = state_dict_mismatches(model, state_dict)
    if problems:
        raise InputError("checkpoint does not match the model configuration: " + "; ".join(problems), path)
    model.load_state_dict(dict(state_dict), strict=True)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a bare state_dict from `.pt` (torch.load weights_only) or `.safetensors`."""
    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint file not found", path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any decode failure is a bad file for the user
        raise InputError(f"cannot read checkpoint ({type(err).__name__}: {err})", path) from None
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError("checkpoint is not a state_dict (a mapping of names to tensors)", path)
    return obj
