"""guided_diffusion.resample: the timestep samplers of training, constructed from a diffusion."""

from __future__ import annotations

from benchmark.compat.guided_diffusion.gaussian_diffusion import GaussianDiffusion
from benchmark.diffusion import timestep_sampler as native_ts
from benchmark.errors import InputError

__all__ = [
    "LossAwareSampler",
    "LossSecondMomentResampler",
    "ScheduleSampler",
    "UniformSampler",
    "create_named_schedule_sampler",
]

ScheduleSampler = native_ts.UniformSampler  # base of both samplers (weights() and sample())
LossAwareSampler = native_ts.LossSecondMomentResampler  # has update_with_local_losses


class UniformSampler(native_ts.UniformSampler):
    """resample.UniformSampler(diffusion)."""

    def __init__(self, diffusion: GaussianDiffusion) -> None:
        super().__init__(diffusion.num_timesteps)
        self.diffusion = diffusion


class LossSecondMomentResampler(native_ts.LossSecondMomentResampler):
    """resample.LossSecondMomentResampler(diffusion, history_per_term=10, uniform_prob=0.001)."""

    def __init__(self, diffusion: GaussianDiffusion, history_per_term: int = 10, uniform_prob: float = 0.001) -> None:
        super().__init__(diffusion.num_timesteps, history_per_term=history_per_term, uniform_prob=uniform_prob)
        self.diffusion = diffusion


def create_named_schedule_sampler(name: str, diffusion: GaussianDiffusion) -> native_ts.UniformSampler:
    """"uniform" or "loss-second-moment"."""
    if name == "uniform":
        return UniformSampler(diffusion)
    if name == "loss-second-moment":
        return LossSecondMomentResampler(diffusion)
    raise InputError(f"unknown schedule sampler {name!r}; choose from ['uniform', 'loss-second-moment']")
