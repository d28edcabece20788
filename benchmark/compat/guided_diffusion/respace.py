"""guided_diffusion.respace: a diffusion that keeps a subset of a base process's timesteps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from benchmark.compat.guided_diffusion.gaussian_diffusion import GaussianDiffusion
from benchmark.diffusion.config import LossType, MeanType, VarianceType
from benchmark.diffusion.gaussian import GaussianDiffusion as NativeDiffusion
from benchmark.diffusion.schedules import respaced_betas
from benchmark.diffusion.schedules import space_timesteps as _native_space_timesteps

__all__ = ["SpacedDiffusion", "space_timesteps"]


def space_timesteps(num_timesteps: int, section_counts: str | Sequence[int]) -> set[int]:
    """Original timesteps to keep ("ddimN", "250", "90,60,60,20,20" or a list of section counts), as a set."""
    return set(_native_space_timesteps(num_timesteps, section_counts))


class SpacedDiffusion(GaussianDiffusion):
    """guided_diffusion.respace.SpacedDiffusion: keeps `use_timesteps` of a base process; models see original t."""

    def __init__(
        self,
        use_timesteps: Sequence[int] | set[int],
        *,
        betas: np.ndarray | Sequence[float],
        model_mean_type: MeanType,
        model_var_type: VarianceType,
        loss_type: LossType,
        rescale_timesteps: bool = False,
    ) -> None:
        self.use_timesteps = set(use_timesteps)
        self.timestep_map = sorted(self.use_timesteps)
        self.original_num_steps = len(betas)
        base = np.array(betas, dtype=np.float64)
        self._setup(NativeDiffusion(respaced_betas(base, self.timestep_map), mean_type=model_mean_type,
                                    variance_type=model_var_type, loss_type=loss_type,
                                    rescale_timesteps=rescale_timesteps, timestep_map=self.timestep_map,
                                    original_num_steps=self.original_num_steps))

    def _scale_timesteps(self, t: torch.Tensor) -> torch.Tensor:
        return t  # the reference maps (and scales) inside its model wrapper instead
