"""Classifier guidance (ADM Section 4): a cond_fn returning s * grad_x log p_phi(y | x_t, t)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from benchmark.diffusion.gaussian import CondFn


def classifier_cond_fn(classifier: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], scale: float) -> CondFn:
    """cond_fn(x_t, t, y) = scale * grad_x log softmax(classifier(x_t, t))[y], as the samplers expect.

    `t` is what the model sees (original-schedule timesteps), so a noisy classifier trained on the full
    schedule works with respaced samplers. The scale s multiplies the gradient (Algorithms 1 and 2).
    """

    def cond_fn(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            log_probs = F.log_softmax(classifier(x_in, t), dim=-1)
            selected = log_probs[torch.arange(len(log_probs), device=log_probs.device), y.view(-1)]
            return torch.autograd.grad(selected.sum(), x_in)[0] * scale

    return cond_fn
