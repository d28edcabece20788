"""Beta schedules (float64) and timestep respacing, with the reference implementation's semantics."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from benchmark.diffusion.config import Schedule
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

def _parse_int(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InputError(f"timestep respacing {what} {text!r} is not an integer") from None


def space_timesteps(num_timesteps: int, section_counts: str | Sequence[int]) -> tuple[int, ...]:
    """Timesteps of the original process to keep, sorted.

    `section_counts` is "ddimN" (the DDIM paper's integer stride giving exactly N steps), comma-separated
    counts per equal-sized section ("250", "90,60,60,20,20"), or a sequence of counts. Within a section of
    `size` steps, `count` steps are taken at the rounded positions of a fractional stride (size-1)/(count-1).
    """
    if isinstance(section_counts, str):
        text = section_counts.strip()
        if text.startswith("ddim"):
            desired = _parse_int(text[len("ddim"):], "DDIM step count")
            for stride in range(1, num_timesteps):
                if len(range(0, num_timesteps, stride)) == desired:
                    return tuple(range(0, num_timesteps, stride))
            raise InputError(f"cannot take exactly {desired} DDIM steps of {num_timesteps} with an integer stride")
        if not text:
            raise InputError("timestep respacing is empty")
        counts = [_parse_int(part, "section count") for part in text.split(",")]
    else:
        counts = [int(c) for c in section_counts]
    if not counts:
        raise InputError("timestep respacing has no sections")
    if any(c < 0 for c in counts):
        raise InputError(f"timestep respacing section counts must be >= 0, got {counts}")
    size_per, extra = divmod(num_timesteps, len(counts))
    start = 0
    kept: set[int] = set()
    for i, count in enumerate(counts):
        size = size_per + (1 if i < extra else 0)
        if size < count:
            raise InputError(
                f"cannot divide a section of {size} steps into {count} (respacing {counts} of {num_timesteps})"
            )
        stride = 1.0 if count <= 1 else (size - 1) / (count - 1)
        position = 0.0
        for _ in range(count):
            kept.add(start + round(position))
            position += stride
        start += size
    if not kept:
        raise InputError(f"timestep respacing {counts} keeps no steps")
    return tuple(sorted(kept))


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
