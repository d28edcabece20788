"""guided_diffusion.gaussian_diffusion -> benchmark.compat.gd_diffusion (the public class, enums and schedules)."""

from benchmark.compat.gd_diffusion import (
    GaussianDiffusion,
    LossType,
    ModelMeanType,
    ModelVarType,
    get_named_beta_schedule,
)

__all__ = ["GaussianDiffusion", "LossType", "ModelMeanType", "ModelVarType", "get_named_beta_schedule"]
