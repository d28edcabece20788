"""Gaussian diffusion for ADM: configs, schedules, the diffusion process, samplers, guidance and losses."""

from benchmark.diffusion.config import DiffusionConfig, LossType, MeanType, Schedule, VarianceType
from benchmark.diffusion.gaussian import GaussianDiffusion, MeanVariance
from benchmark.diffusion.guidance import classifier_cond_fn
from benchmark.diffusion.rng import SampleRNG, sample_seed
from benchmark.diffusion.sampling import (
    StepOutput,
    ddim_reverse_step,
    ddim_sample_loop,
    ddim_sample_loop_progressive,
    ddim_step,
    ddpm_sample_loop,
    ddpm_sample_loop_progressive,
    ddpm_step,
)

__all__ = [
    "DiffusionConfig",
    "GaussianDiffusion",
    "LossType",
    "MeanType",
    "MeanVariance",
    "SampleRNG",
    "Schedule",
    "StepOutput",
    "VarianceType",
    "classifier_cond_fn",
    "ddim_reverse_step",
    "ddim_sample_loop",
    "ddim_sample_loop_progressive",
    "ddim_step",
    "ddpm_sample_loop",
    "ddpm_sample_loop_progressive",
    "ddpm_step",
    "sample_seed",
]
