"""Runtime speed options for the networks (none of them changes the architecture or the checkpoint layout)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class SpeedOptions:
    """How to run a network fast. The "plain fp32 eager" reference path is SpeedOptions.reference()."""

    attention_impl: str = "sdpa"  # "sdpa" (fused) or "naive" (reference einsum + float32 softmax)
    bf16_autocast: bool = True  # torch.autocast(bfloat16): convs/matmuls in bf16, norms and the loss in fp32
    channels_last: bool = True  # NHWC memory format for convolutions (pays on GPUs with bf16/fp16)
    compile: bool = False  # torch.compile the module (slow first call; worth it for long runs)
    fused_optimizer: bool = True  # AdamW(fused=True)

    @staticmethod
    def for_device(device: torch.device) -> SpeedOptions:
        """Fast defaults: channels_last only on CUDA (on CPU its layout conversions cost more than they save)."""
        return SpeedOptions(channels_last=device.type == "cuda")

    @staticmethod
    def reference() -> SpeedOptions:
        return SpeedOptions(
            attention_impl="naive", bf16_autocast=False, channels_last=False, compile=False, fused_optimizer=False
        )


def prepare(model: nn.Module, options: SpeedOptions) -> nn.Module:
    """Apply the memory format and compilation options; returns the module to call (maybe compiled)."""
    if options.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if options.compile:
        return torch.compile(model)  # type: ignore[return-value]
    return model


def autocast(options: SpeedOptions, device: torch.device) -> contextlib.AbstractContextManager[object]:
    """The autocast context of `options` on `device` (a no-op context when bf16_autocast is off)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=options.bf16_autocast)


def adamw(model: nn.Module, options: SpeedOptions, lr: float = 1e-4, weight_decay: float = 0.0) -> torch.optim.AdamW:
    """AdamW over the model's parameters, fused when the options ask for it."""
    fused = options.fused_optimizer or None
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=fused)
