"""guided_diffusion.resample -> benchmark.compat.gd_diffusion (timestep schedule samplers)."""

from benchmark.compat.gd_diffusion import (
    LossAwareSampler,
    LossSecondMomentResampler,
    ScheduleSampler,
    UniformSampler,
    create_named_schedule_sampler,
)

__all__ = [
    "LossAwareSampler",
    "LossSecondMomentResampler",
    "ScheduleSampler",
    "UniformSampler",
    "create_named_schedule_sampler",
]
