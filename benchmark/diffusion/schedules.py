"""Beta schedules (float64) and timestep respacing, with the reference implementation's semantics."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from benchmark.diffusion.config import Schedule
from benchmark.diffusion.respacing import Respacing, RespacingKind
from benchmark.errors import InputError


def linear_betas(steps: int) -> np.ndarray:
    """Ho et al. linear schedule 1e-4 .. 0.02, scaled by 1000/steps so any step count keeps the same shape."""
    scale = 1000.0 / steps
    return np.linspace(scale * 0.0001, scale * 0.02, steps, dtype=np.float64)


def betas_for_alpha_bar(steps: int, alpha_bar: Callable[[float], float], max_beta: float = 0.999) -> np.ndarray:
    """Discretise a continuous alpha_bar(t), t in [0, 1].

    beta_i = min(1 - alpha_bar(t_{i+1}) / alpha_bar(t_i), max_beta) with t_i = i / steps.
    """
    betas = [min(1.0 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), max_beta) for i in range(steps)]
    return np.array(betas, dtype=np.float64)


def cosine_betas(steps: int) -> np.ndarray:
    """iDDPM cosine schedule (Nichol & Dhariwal 2021, Eq. 17) with offset s = 0.008 and betas capped at 0.999."""
    return betas_for_alpha_bar(steps, lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2)


def named_betas(schedule: Schedule, steps: int) -> np.ndarray:
    """Betas of a named schedule."""
    if schedule is Schedule.LINEAR:
        return linear_betas(steps)
    if schedule is Schedule.COSINE:
        return cosine_betas(steps)
    raise InputError(f"unknown noise schedule {schedule!r}")


#----------------------------------------------------------------------------
# Respacing (iDDPM Section 4: sampling with fewer steps).

def space_timesteps(num_timesteps: int, section_counts: str | Sequence[int]) -> tuple[int, ...]:
    """Timesteps of the original process to keep, sorted: the reference's function over `Respacing`.

    `section_counts` is "ddimN", comma-separated counts per equal-sized section ("250", "90,60,60,20,20"), or a
    sequence of counts; as in the reference, an empty string is refused (it means "every step" only as a config
    value, where `Respacing.parse` reads it).
    """
    if isinstance(section_counts, str):
        respacing = Respacing.parse(section_counts)
        if respacing.kind is RespacingKind.ALL:
            raise InputError("timestep respacing is empty")
    else:
        if not section_counts:
            raise InputError("timestep respacing has no sections")
        respacing = Respacing.sections(section_counts)
    return respacing.timesteps(num_timesteps)


def respaced_betas(betas: np.ndarray, kept: Sequence[int]) -> np.ndarray:
    """Betas of the sub-process visiting only `kept` steps: beta'_i = 1 - alphabar_{k_i} / alphabar_{k_{i-1}}.

    The cumulative products of the new process equal the original alphabar at the kept steps.
    """
    kept_arr = np.asarray(sorted(kept), dtype=np.int64)
    if kept_arr.size == 0 or kept_arr[0] < 0 or kept_arr[-1] >= len(betas) or len(np.unique(kept_arr)) != kept_arr.size:
        raise InputError(f"kept timesteps must be distinct indices in [0, {len(betas)})")
    alphas_cumprod = np.cumprod(1.0 - np.asarray(betas, dtype=np.float64))[kept_arr]
    previous = np.append(1.0, alphas_cumprod[:-1])
    return 1.0 - alphas_cumprod / previous
