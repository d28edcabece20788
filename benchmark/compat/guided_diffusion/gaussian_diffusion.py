"""guided_diffusion.gaussian_diffusion over the native `benchmark.diffusion` objects.

The same keyword flags, method signatures, dict-valued results and global-RNG draws in the same order as the
reference (so a fixed `torch.manual_seed` reproduces its samples). For per-sample reproducible sampling use
`benchmark.diffusion.sampling` with a `SampleRNG`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from benchmark.diffusion import sampling
from benchmark.diffusion.config import LossType, MeanType, Schedule, VarianceType
from benchmark.diffusion.gaussian import CondFn, GaussianDiffusion as NativeDiffusion, MeanVariance, ModelFn
from benchmark.diffusion.schedules import named_betas
from benchmark.errors import InputError

# Reference enum names (same members; LossType.is_vb() included).
ModelMeanType = MeanType
ModelVarType = VarianceType

__all__ = ["GaussianDiffusion", "LossType", "ModelMeanType", "ModelVarType", "get_named_beta_schedule"]

DenoisedFn = Callable[[torch.Tensor], torch.Tensor]

_REFERENCE_ARRAYS = (
    "betas", "alphas_cumprod", "alphas_cumprod_prev", "alphas_cumprod_next", "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
    "posterior_mean_coef1", "posterior_mean_coef2",
)


def get_named_beta_schedule(schedule_name: str, num_diffusion_timesteps: int) -> np.ndarray:
    """Betas of "linear" or "cosine" (float64)."""
    try:
        schedule = Schedule(schedule_name)
    except ValueError:
        choices = [s.value for s in Schedule]
        raise InputError(f"unknown beta schedule {schedule_name!r}; choose from {choices}") from None
    return named_betas(schedule, num_diffusion_timesteps)


def _as_dict(mv: MeanVariance) -> dict[str, torch.Tensor]:
    return {"mean": mv.mean, "variance": mv.variance, "log_variance": mv.log_variance, "pred_xstart": mv.pred_xstart}


def _from_dict(d: dict[str, torch.Tensor]) -> MeanVariance:
    return MeanVariance(
        mean=d["mean"], variance=d["variance"], log_variance=d["log_variance"], pred_xstart=d["pred_xstart"]
    )


def _default_device(model: ModelFn, device: torch.device | str | None) -> torch.device | str:
    if device is not None:
        return device
    parameters = getattr(model, "parameters", None)
    if callable(parameters):
        for p in parameters():
            return p.device
    return "cpu"


#----------------------------------------------------------------------------

class GaussianDiffusion:
    """guided_diffusion.gaussian_diffusion.GaussianDiffusion (same constructor keywords, methods and results)."""

    def __init__(
        self,
        *,
        betas: np.ndarray | Sequence[float],
        model_mean_type: MeanType,
        model_var_type: VarianceType,
        loss_type: LossType,
        rescale_timesteps: bool = False,
    ) -> None:
        self._setup(NativeDiffusion(betas, mean_type=model_mean_type, variance_type=model_var_type,
                                    loss_type=loss_type, rescale_timesteps=rescale_timesteps))

    def _setup(self, native: NativeDiffusion) -> None:
        self.native = native
        self.model_mean_type = native.mean_type
        self.model_var_type = native.variance_type
        self.loss_type = native.loss_type
        self.rescale_timesteps = native.rescale_timesteps
        self.num_timesteps = native.num_timesteps
        for name in _REFERENCE_ARRAYS:
            setattr(self, name, getattr(native, name))

    # Forward process and conversions.
    def q_mean_variance(
        self, x_start: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance, log variance of q(x_t | x_0)."""
        return self.native.q_mean_variance(x_start, t)

    def q_sample(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Sample q(x_t | x_0)."""
        return self.native.q_sample(x_start, t, noise=noise)

    def q_posterior_mean_variance(
        self, x_start: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance, clipped log variance of q(x_{t-1} | x_t, x_0)."""
        return self.native.q_posterior_mean_variance(x_start, x_t, t)

    def _predict_xstart_from_eps(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return self.native.predict_xstart_from_eps(x_t, t, eps)

    def _predict_xstart_from_xprev(self, x_t: torch.Tensor, t: torch.Tensor, xprev: torch.Tensor) -> torch.Tensor:
        return self.native.predict_xstart_from_xprev(x_t, t, xprev)

    def _predict_eps_from_xstart(self, x_t: torch.Tensor, t: torch.Tensor, pred_xstart: torch.Tensor) -> torch.Tensor:
        return self.native.predict_eps_from_xstart(x_t, t, pred_xstart)

    def _scale_timesteps(self, t: torch.Tensor) -> torch.Tensor:
        return self.native.model_timesteps(t)

    def _prior_bpd(self, x_start: torch.Tensor) -> torch.Tensor:
        return self.native.prior_bpd(x_start)

    # Reverse process and guidance.
    def p_mean_variance(
        self,
        model: ModelFn,
        x: torch.Tensor,
        t: torch.Tensor,
        clip_denoised: bool = True,
        denoised_fn: DenoisedFn | None = None,
        model_kwargs: dict[str, object] | None = None,
    ) -> dict[str, torch.Tensor]:
        """{"mean", "variance", "log_variance", "pred_xstart"} of p(x_{t-1} | x_t)."""
        return _as_dict(self.native.p_mean_variance(model, x, t, clip_denoised=clip_denoised, denoised_fn=denoised_fn,
                                                    model_kwargs=model_kwargs))

    def condition_mean(
        self, cond_fn: CondFn, p_mean_var: dict[str, torch.Tensor], x: torch.Tensor, t: torch.Tensor,
        model_kwargs: dict[str, object] | None = None,
    ) -> torch.Tensor:
        """Guided mean (Sohl-Dickstein et al. / ADM Algorithm 1)."""
        return self.native.condition_mean(cond_fn, _from_dict(p_mean_var), x, t, model_kwargs)

    def condition_score(
        self, cond_fn: CondFn, p_mean_var: dict[str, torch.Tensor], x: torch.Tensor, t: torch.Tensor,
        model_kwargs: dict[str, object] | None = None,
    ) -> dict[str, torch.Tensor]:
        """p_mean_var with a guided score (Song et al. / ADM Algorithm 2); other keys are kept."""
        out = dict(p_mean_var)
        out.update(_as_dict(self.native.condition_score(cond_fn, _from_dict(p_mean_var), x, t, model_kwargs)))
        return out

    def p_sample(
        self,
        model: ModelFn,
        x: torch.Tensor,
        t: torch.Tensor,
        clip_denoised: bool = True,
        denoised_fn: DenoisedFn | None = None,
        cond_fn: CondFn | None = None,
        model_kwargs: dict[str, object] | None = None,
    ) -> dict[str, torch.Tensor]:
        """{"sample", "pred_xstart"} of one ancestral step (noise from the global RNG)."""
        out = sampling.ddpm_step(self.native, model, x, t, torch.randn_like, clip_denoised=clip_denoised,
                                 denoised_fn=denoised_fn, cond_fn=cond_fn, model_kwargs=model_kwargs)
        return {"sample": out.sample, "pred_xstart": out.pred_xstart}

    def p_sample_loop(
        self,
        model: ModelFn,
        shape: Sequence[int],
        noise: torch.Tensor | None = None,
        clip_denoised: bool = True,
        denoised_fn: DenoisedFn | None = None,
        cond_fn: CondFn | None = None,
        model_kwargs: dict[str, object] | None = None,
        device: torch.device | str | None = None,
        progress: bool = False,
    ) -> torch.Tensor:
        """Samples of `shape` from x_T = noise (or fresh global-RNG noise)."""
        final = None
        for final in self.p_sample_loop_progressive(model, shape, noise=noise, clip_denoised=clip_denoised,
                                                    denoised_fn=denoised_fn, cond_fn=cond_fn,
                                                    model_kwargs=model_kwargs, device=device, progress=progress):
            pass
        assert final is not None
        return final["sample"]

    def p_sample_loop_progressive(
        self,
        model: ModelFn,
        shape: Sequence[int],
        noise: torch.Tensor | None = None,
        clip_denoised: bool = True,
        denoised_fn: DenoisedFn | None = None,
        cond_fn: CondFn | None = None,
        model_kwargs: dict[str, object] | None = None,
        device: torch.device | str | None = None,
        progress: bool = False,
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Yield p_sample's dict at every step from T-1 to 0."""
        device = _default_device(model, device)
        if not isinstance(shape, (tuple, list)):
            raise TypeError("shape must be a tuple or list")
        img = noise if noise is not None else torch.randn(*shape, device=device)
        for i in sampling.timestep_indices(self.num_timesteps, progress):
            t = torch.tensor([i] * shape[0], device=device)
            with torch.no_grad():
                out = self.p_sample(model, img, t, clip_denoised=clip_denoised, denoised_fn=denoised_fn,
                                    cond_fn=cond_fn, model_kwargs=model_kwargs)
                yield out
                img = out["sample"]

    def ddim_sample(
        self,
        model: ModelFn,
        x: torch.Tensor,
        t: torch.Tensor,
        clip_denoised: bool = True,
        denoised_fn: DenoisedFn | None = None,
        cond_fn: CondFn | None = None,
        model_kwargs: dict[str, object] | None = None,
        eta: float = 0.0,
    ) -> dict[str, torch.Tensor]:
        """{"sample", "pred_xstart"} of one DDIM step (noise drawn from the global RNG for every eta)."""
        out = sampling.ddim_step(self.native, model, x, t, torch.randn_like, eta=eta, clip_denoised=clip_denoised,
                                 denoised_fn=denoised_fn, cond_fn=cond_fn, model_kwargs=model_kwargs)
        return {"sample": out.sample, "pred_xstart": out.pred_xstart}

    def ddim_reverse_sample(
        self,
        model: ModelFn,
        x: torch.Tensor,
        t: torch.Tensor,
        clip_denoised: bool = True,
        denoised_fn: DenoisedFn | None = None,
        model_kwargs: dict[str, object] | None = None,
        eta: float = 0.0,
    ) -> dict[str, torch.Tensor]:
        """Deterministic DDIM step x_t -> x_{t+1}."""
        if eta != 0.0:
            raise ValueError("Reverse ODE only for deterministic path (eta must be 0)")
        out = sampling.ddim_reverse_step(self.native, model, x, t, clip_denoised=clip_denoised,
                                         denoised_fn=denoised_fn, model_kwargs=model_kwargs)
        return {"sample": out.sample, "pred_xstart": out.pred_xstart}

    def ddim_sample_loop(
        self,
        model: ModelFn,
        shape: Sequence[int],
        noise: torch.Tensor | None = None,
        clip_denoised: bool = True,
        denoised_fn: DenoisedFn | None = None,
        cond_fn: CondFn | None = None,
        model_kwargs: dict[str, object] | None = None,
        device: torch.device | str | None = None,
        progress: bool = False,
        eta: float = 0.0,
    ) -> torch.Tensor:
        """DDIM samples of `shape`."""
        final = None
        for final in self.ddim_sample_loop_progressive(model, shape, noise=noise, clip_denoised=clip_denoised,
                                                       denoised_fn=denoised_fn, cond_fn=cond_fn,
                                                       model_kwargs=model_kwargs, device=device, progress=progress,
                                                       eta=eta):
            pass
        assert final is not None
        return final["sample"]

    def ddim_sample_loop_progressive(
        self,
        model: ModelFn,
        shape: Sequence[int],
        noise: torch.Tensor | None = None,
        clip_denoised: bool = True,
        denoised_fn: DenoisedFn | None = None,
        cond_fn: CondFn | None = None,
        model_kwargs: dict[str, object] | None = None,
        device: torch.device | str | None = None,
        progress: bool = False,
        eta: float = 0.0,
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Yield ddim_sample's dict at every step from T-1 to 0."""
        device = _default_device(model, device)
        if not isinstance(shape, (tuple, list)):
            raise TypeError("shape must be a tuple or list")
        img = noise if noise is not None else torch.randn(*shape, device=device)
        for i in sampling.timestep_indices(self.num_timesteps, progress):
            t = torch.tensor([i] * shape[0], device=device)
            with torch.no_grad():
                out = self.ddim_sample(model, img, t, clip_denoised=clip_denoised, denoised_fn=denoised_fn,
                                       cond_fn=cond_fn, model_kwargs=model_kwargs, eta=eta)
                yield out
                img = out["sample"]

    # Losses and the bound.
    def training_losses(
        self,
        model: ModelFn,
        x_start: torch.Tensor,
        t: torch.Tensor,
        model_kwargs: dict[str, object] | None = None,
        noise: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """{"loss"} (+ "mse", "vb") per sample, as the reference computes them."""
        return self.native.training_losses(model, x_start, t, model_kwargs=model_kwargs, noise=noise)

    def calc_bpd_loop(
        self,
        model: ModelFn,
        x_start: torch.Tensor,
        clip_denoised: bool = True,
        model_kwargs: dict[str, object] | None = None,
    ) -> dict[str, torch.Tensor]:
        """The full bound in bits per dim: total_bpd, prior_bpd, vb, xstart_mse, mse."""
        return self.native.calc_bpd_loop(model, x_start, clip_denoised=clip_denoised, model_kwargs=model_kwargs)
