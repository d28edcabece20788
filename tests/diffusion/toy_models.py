"""Deterministic stand-in networks shared by the diffusion tests and the reference-fixture generator.

Everything is elementwise or an explicit per-channel sum, so results are bitwise independent of batch size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# Reference-parity cases: process settings by enum *name* (valid for both implementations).
_FIELDS = ("steps", "schedule", "respacing", "mean", "var", "loss", "rescale")
CASES: dict[str, dict[str, object]] = {
    name: dict(zip(_FIELDS, values))
    for name, values in {
        "A": (100, "linear", "10", "EPSILON", "LEARNED_RANGE", "MSE", False),
        "B": (100, "cosine", "ddim20", "EPSILON", "LEARNED_RANGE", "RESCALED_MSE", True),
        "C": (50, "linear", "", "START_X", "FIXED_SMALL", "RESCALED_KL", False),
        "D": (50, "cosine", "5,10,5", "EPSILON", "FIXED_LARGE", "MSE", False),
        "E": (40, "linear", "", "PREVIOUS_X", "LEARNED", "KL", True),
        "F": (30, "linear", "12", "START_X", "LEARNED_RANGE", "RESCALED_MSE", False),
    }.items()
}
SHAPE = (3, 2, 3, 3)  # N, C, H, W
NUM_CLASSES = 4


class ChannelMixModel:
    """out_j = b_j + c_j sin(3 t / 1000) + sum_i W_ji x_i (+ 0.05 y); learned-variance channels squashed by tanh."""

    def __init__(self, channels: int, learned_variance: bool, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.channels = channels
        self.learned_variance = learned_variance
        out = 2 * channels if learned_variance else channels
        self.w = (rng.normal(size=(out, channels)) / np.sqrt(channels)).tolist()
        self.b = (0.1 * rng.normal(size=out)).tolist()
        self.c = (0.5 * rng.normal(size=out)).tolist()

    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        tt = torch.sin(t.to(x.dtype) * (3.0 / 1000.0)).view(-1, *([1] * (x.ndim - 2)))
        outs = []
        for j in range(len(self.w)):
            acc = self.b[j] + self.c[j] * tt
            for i in range(self.channels):
                acc = acc + self.w[j][i] * x[:, i]
            if y is not None:
                acc = acc + 0.05 * y.to(x.dtype).view(-1, *([1] * (x.ndim - 2)))
            outs.append(acc)
        out = torch.stack(outs, dim=1)
        if self.learned_variance:
            out = torch.cat([out[:, : self.channels], torch.tanh(out[:, self.channels :])], dim=1)
        return out


class ToyClassifier:
    """logits_k = sum_c V_kc mean_hw tanh(x_c) * (1 + t / 1000) + a_k."""

    def __init__(self, channels: int, num_classes: int = NUM_CLASSES, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.v = rng.normal(size=(num_classes, channels)).tolist()
        self.a = (0.1 * rng.normal(size=num_classes)).tolist()

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        feats = torch.tanh(x).mean(dim=tuple(range(2, x.ndim)))  # [N, C]
        scale = 1.0 + t.to(x.dtype) / 1000.0
        logits = []
        for k in range(len(self.v)):
            acc = self.a[k] + sum(self.v[k][c] * feats[:, c] for c in range(feats.shape[1]))
            logits.append(acc * scale)
        return torch.stack(logits, dim=1)


def make_cond_fn(classifier: ToyClassifier, scale: float):
    """The classifier_sample.py closure: scale * grad_x log softmax(classifier(x, t))[y]."""

    def cond_fn(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        assert y is not None
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            log_probs = F.log_softmax(classifier(x_in, t), dim=-1)
            selected = log_probs[range(len(log_probs)), y.view(-1)]
            return torch.autograd.grad(selected.sum(), x_in)[0] * scale

    return cond_fn


def fixed_inputs(dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """x_start on the 8-bit grid (with both edge values), fixed noise, labels."""
    rng = np.random.default_rng(1234)
    x = rng.integers(0, 256, size=SHAPE).astype(np.float64) / 127.5 - 1.0
    x.flat[0], x.flat[1] = -1.0, 1.0
    return {
        "x_start": torch.tensor(x, dtype=dtype),
        "noise": torch.tensor(rng.normal(size=SHAPE), dtype=dtype),
        "noise2": torch.tensor(rng.normal(size=SHAPE), dtype=dtype),
        "y": torch.tensor([0, 3, 1]),
    }
