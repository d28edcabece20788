"""Shared helpers for the model tests: deterministic weights and tiny configurations."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from benchmark.models import UNetConfig


def fill_deterministic(model: nn.Module, seed: int) -> None:
    """Give every state_dict entry seeded random values (sorted key order), independent of the module code.

    Matrices/kernels: N(0, 1/fan_in); 1-D weights: 1 + 0.1 N(0, 1); 1-D others: 0.1 N(0, 1).
    """
    g = torch.Generator().manual_seed(seed)
    sd = model.state_dict()
    new = {}
    for key in sorted(sd):
        shape = sd[key].shape
        if len(shape) >= 2:
            value = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
        elif key.endswith("weight"):
            value = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            value = 0.1 * torch.randn(shape, generator=g)
        new[key] = value
    model.load_state_dict(new)


@pytest.fixture
def fill() -> Callable[[nn.Module, int], None]:
    return fill_deterministic


@pytest.fixture
def tiny_config() -> UNetConfig:
    return UNetConfig(
        image_size=16, model_channels=32, channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(16, 8),
        num_heads=2, num_head_channels=None, num_classes=10,
    )  # fmt: skip
