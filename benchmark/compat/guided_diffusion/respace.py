"""guided_diffusion.respace -> benchmark.compat.gd_diffusion (SpacedDiffusion, space_timesteps)."""

from benchmark.compat.gd_diffusion import SpacedDiffusion, space_timesteps

__all__ = ["SpacedDiffusion", "space_timesteps"]
