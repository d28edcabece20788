"""Diffusion process configuration: schedule, parameterisation, variance and loss (ADM / iDDPM settings)."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import ClassVar

from benchmark.config import ConfigBase
from benchmark.diffusion.respacing import Respacing
from benchmark.errors import InputError


class Schedule(enum.Enum):
    """Noise schedule of the base (1000-step style) process."""

    LINEAR = "linear"  # Ho et al. 2020, scaled to any number of steps
    COSINE = "cosine"  # Nichol & Dhariwal 2021 (iDDPM), max beta 0.999


class MeanType(enum.Enum):
    """What the model predicts for the mean."""

    PREVIOUS_X = "previous_x"  # x_{t-1}
    START_X = "start_x"  # x_0
    EPSILON = "epsilon"  # the noise


class VarianceType(enum.Enum):
    """How the reverse-process variance Sigma_theta is chosen."""

    LEARNED = "learned"  # the model outputs log-variance directly
    FIXED_SMALL = "fixed_small"  # posterior variance beta~_t
    FIXED_LARGE = "fixed_large"  # beta_t
    LEARNED_RANGE = "learned_range"  # iDDPM: interpolate log beta~_t .. log beta_t with v in [-1, 1]

    @property
    def is_learned(self) -> bool:
        """True when the model outputs 2*C channels (mean part + variance part)."""
        return self in (VarianceType.LEARNED, VarianceType.LEARNED_RANGE)


class LossType(enum.Enum):
    """Training objective."""

    MSE = "mse"  # L_simple (+ the single-step vb term when the variance is learned)
    RESCALED_MSE = "rescaled_mse"  # L_simple + lambda * T * L_t (iDDPM L_hybrid for any T)
    KL = "kl"  # one term of the variational bound
    RESCALED_KL = "rescaled_kl"  # T * one term: an estimate of the whole bound

    def is_vb(self) -> bool:
        """True for the pure variational-bound objectives."""
        return self in (LossType.KL, LossType.RESCALED_KL)


#----------------------------------------------------------------------------

@dataclass(frozen=True)
class DiffusionConfig(ConfigBase):
    """One Gaussian diffusion process; the defaults are the ADM ImageNet-128 setting (learned range, hybrid loss).

    `timestep_respacing` follows the reference syntax: "" (all steps), "250" (evenly strided), "ddim25"
    (integer DDIM stride) or section counts "90,60,60,20,20". `kept_timesteps()` returns the parsed steps.
    """

    steps: int = 1000
    schedule: Schedule = Schedule.LINEAR
    mean_type: MeanType = MeanType.EPSILON
    variance_type: VarianceType = VarianceType.LEARNED_RANGE
    loss_type: LossType = LossType.MSE
    lambda_vlb: float = 0.001  # L_hybrid = L_simple + lambda * L_vlb (iDDPM Eq. 16)
    rescale_timesteps: bool = False  # feed the model t * 1000 / T as a float
    timestep_respacing: str = ""

    config_name: ClassVar[str] = "diffusion"

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise InputError(f"diffusion steps must be a positive integer, got {self.steps!r}")
        self.check_typed_fields()
        lam = self.lambda_vlb
        if not isinstance(lam, (int, float)) or isinstance(lam, bool) or not lam >= 0:
            raise InputError(f"diffusion lambda_vlb must be a non-negative number, got {self.lambda_vlb!r}")
        if not isinstance(self.rescale_timesteps, bool):
            raise InputError(f"diffusion rescale_timesteps must be a bool, got {self.rescale_timesteps!r}")
        if not isinstance(self.timestep_respacing, str):
            raise InputError(f"diffusion timestep_respacing must be a string, got {self.timestep_respacing!r}")
        self.kept_timesteps()  # validates the respacing string

    @property
    def respacing(self) -> Respacing:
        """`timestep_respacing` parsed (the string stays the field: it is the reference's, and the serialised form)."""
        return Respacing.parse(self.timestep_respacing)

    def respaced(self, respacing: Respacing) -> DiffusionConfig:
        """This process sampled with `respacing`."""
        return dataclasses.replace(self, timestep_respacing=str(respacing))

    def kept_timesteps(self) -> tuple[int, ...]:
        """Sorted original-schedule timesteps kept by `timestep_respacing` (all of them when it is empty)."""
        return self.respacing.timesteps(self.steps)
