"""Samplers as pure functions: ancestral DDPM steps (with Algorithm 1 guidance) and DDIM (with Algorithm 2).

Noise comes from a `NoiseFn` (e.g. `SampleRNG.randn_like` for per-sample reproducibility); the loops never
touch the global RNG.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from rich.console import Console
from rich.progress import track

from benchmark.diffusion.gaussian import CondFn, GaussianDiffusion, ModelFn, NoiseFn

DenoisedFn = Callable[[torch.Tensor], torch.Tensor]


class Sampler(enum.Enum):
    """Which reverse process draws samples: `ddpm_sample_loop` or `ddim_sample_loop`."""

    DDPM = "ddpm"  # ancestral sampling
    DDIM = "ddim"  # DDIM (deterministic at eta 0)


@dataclass(frozen=True)
class StepOutput:
    """One reverse step: the new sample and the x_0 prediction it was derived from."""

    sample: torch.Tensor
    pred_xstart: torch.Tensor


def _nonzero_mask(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """1 where t > 0, 0 at the last step (no noise is added at t = 0)."""
    return (t != 0).float().view(-1, *([1] * (like.ndim - 1)))


def timestep_indices(num_timesteps: int, progress: bool) -> Iterator[int]:
    """T-1, ..., 0, with a progress bar on stderr when `progress` (the reference's `progress=True`)."""
    indices = reversed(range(num_timesteps))
    if progress:
        return iter(track(list(indices), description="sampling", console=Console(stderr=True), transient=True))
    return indices


#----------------------------------------------------------------------------
# Single steps.

def ddpm_step(
    diffusion: GaussianDiffusion,
    model: ModelFn,
    x: torch.Tensor,
    t: torch.Tensor,
    noise_fn: NoiseFn,
    *,
    clip_denoised: bool = True,
    denoised_fn: DenoisedFn | None = None,
    cond_fn: CondFn | None = None,
    model_kwargs: dict[str, object] | None = None,
) -> StepOutput:
    """x_{t-1} ~ p_theta(x_{t-1} | x_t), shifted by classifier guidance when cond_fn is given (Algorithm 1)."""
    out = diffusion.p_mean_variance(
        model, x, t, clip_denoised=clip_denoised, denoised_fn=denoised_fn, model_kwargs=model_kwargs
    )
    noise = noise_fn(x)
    mean = out.mean if cond_fn is None else diffusion.condition_mean(cond_fn, out, x, t, model_kwargs)
    sample = mean + _nonzero_mask(t, x) * torch.exp(0.5 * out.log_variance) * noise
    return StepOutput(sample=sample, pred_xstart=out.pred_xstart)


def ddim_step(
    diffusion: GaussianDiffusion,
    model: ModelFn,
    x: torch.Tensor,
    t: torch.Tensor,
    noise_fn: NoiseFn | None,
    *,
    eta: float = 0.0,
    clip_denoised: bool = True,
    denoised_fn: DenoisedFn | None = None,
    cond_fn: CondFn | None = None,
    model_kwargs: dict[str, object] | None = None,
) -> StepOutput:
    """DDIM step (Song et al. 2021, Eq. 12) with sigma_t = eta * sqrt(beta~_t); guidance via the score (Algorithm 2).

    `noise_fn` may be None only when eta == 0; when given it is always called once (so a shared stream advances
    the same way for every eta).
    """
    out = diffusion.p_mean_variance(
        model, x, t, clip_denoised=clip_denoised, denoised_fn=denoised_fn, model_kwargs=model_kwargs
    )
    if cond_fn is not None:
        out = diffusion.condition_score(cond_fn, out, x, t, model_kwargs)
    # Re-derive eps from x_0 (also covers x_0- and x_{t-1}-predicting models).
    eps = diffusion.predict_eps_from_xstart(x, t, out.pred_xstart)
    alpha_bar = diffusion.coef("alphas_cumprod", t, x)
    alpha_bar_prev = diffusion.coef("alphas_cumprod_prev", t, x)
    sigma = eta * torch.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar)) * torch.sqrt(1 - alpha_bar / alpha_bar_prev)
    if noise_fn is None and eta != 0:
        raise ValueError("ddim_step with eta != 0 needs a noise_fn")
    noise = None if noise_fn is None else noise_fn(x)
    sample = out.pred_xstart * torch.sqrt(alpha_bar_prev) + torch.sqrt(1 - alpha_bar_prev - sigma**2) * eps
    if noise is not None:
        sample = sample + _nonzero_mask(t, x) * sigma * noise
    return StepOutput(sample=sample, pred_xstart=out.pred_xstart)


def ddim_reverse_step(
    diffusion: GaussianDiffusion,
    model: ModelFn,
    x: torch.Tensor,
    t: torch.Tensor,
    *,
    clip_denoised: bool = True,
    denoised_fn: DenoisedFn | None = None,
    model_kwargs: dict[str, object] | None = None,
) -> StepOutput:
    """Deterministic DDIM encoding step x_t -> x_{t+1} (Eq. 12 run backwards, eta = 0)."""
    out = diffusion.p_mean_variance(
        model, x, t, clip_denoised=clip_denoised, denoised_fn=denoised_fn, model_kwargs=model_kwargs
    )
    eps = diffusion.predict_eps_from_xstart(x, t, out.pred_xstart)
    alpha_bar_next = diffusion.coef("alphas_cumprod_next", t, x)
    sample = out.pred_xstart * torch.sqrt(alpha_bar_next) + torch.sqrt(1 - alpha_bar_next) * eps
    return StepOutput(sample=sample, pred_xstart=out.pred_xstart)


#----------------------------------------------------------------------------
# Loops.

def ddpm_sample_loop_progressive(
    diffusion: GaussianDiffusion,
    model: ModelFn,
    x_T: torch.Tensor,
    noise_fn: NoiseFn,
    *,
    clip_denoised: bool = True,
    denoised_fn: DenoisedFn | None = None,
    cond_fn: CondFn | None = None,
    model_kwargs: dict[str, object] | None = None,
    progress: bool = False,
) -> Iterator[StepOutput]:
    """Ancestral sampling from x_T down to x_0 (DDPM Algorithm 2), yielding every step."""
    x = x_T
    for i in timestep_indices(diffusion.num_timesteps, progress):
        t = torch.full((x.shape[0],), i, dtype=torch.long, device=x.device)
        with torch.no_grad():
            out = ddpm_step(diffusion, model, x, t, noise_fn, clip_denoised=clip_denoised, denoised_fn=denoised_fn,
                            cond_fn=cond_fn, model_kwargs=model_kwargs)
        yield out
        x = out.sample


def ddpm_sample_loop(
    diffusion: GaussianDiffusion,
    model: ModelFn,
    x_T: torch.Tensor,
    noise_fn: NoiseFn,
    *,
    clip_denoised: bool = True,
    denoised_fn: DenoisedFn | None = None,
    cond_fn: CondFn | None = None,
    model_kwargs: dict[str, object] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Final x_0 of `ddpm_sample_loop_progressive`."""
    final = x_T
    for out in ddpm_sample_loop_progressive(diffusion, model, x_T, noise_fn, clip_denoised=clip_denoised,
                                            denoised_fn=denoised_fn, cond_fn=cond_fn, model_kwargs=model_kwargs,
                                            progress=progress):
        final = out.sample
    return final


def ddim_sample_loop_progressive(
    diffusion: GaussianDiffusion,
    model: ModelFn,
    x_T: torch.Tensor,
    noise_fn: NoiseFn | None,
    *,
    eta: float = 0.0,
    clip_denoised: bool = True,
    denoised_fn: DenoisedFn | None = None,
    cond_fn: CondFn | None = None,
    model_kwargs: dict[str, object] | None = None,
    progress: bool = False,
) -> Iterator[StepOutput]:
    """DDIM sampling over the (respaced) process, yielding every step; eta = 0 draws no noise at all."""
    step_noise = None if eta == 0 else noise_fn
    x = x_T
    for i in timestep_indices(diffusion.num_timesteps, progress):
        t = torch.full((x.shape[0],), i, dtype=torch.long, device=x.device)
        with torch.no_grad():
            out = ddim_step(diffusion, model, x, t, step_noise, eta=eta, clip_denoised=clip_denoised,
                            denoised_fn=denoised_fn, cond_fn=cond_fn, model_kwargs=model_kwargs)
        yield out
        x = out.sample


def ddim_sample_loop(
    diffusion: GaussianDiffusion,
    model: ModelFn,
    x_T: torch.Tensor,
    noise_fn: NoiseFn | None,
    *,
    eta: float = 0.0,
    clip_denoised: bool = True,
    denoised_fn: DenoisedFn | None = None,
    cond_fn: CondFn | None = None,
    model_kwargs: dict[str, object] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Final x_0 of `ddim_sample_loop_progressive`."""
    final = x_T
    for out in ddim_sample_loop_progressive(diffusion, model, x_T, noise_fn, eta=eta, clip_denoised=clip_denoised,
                                            denoised_fn=denoised_fn, cond_fn=cond_fn, model_kwargs=model_kwargs,
                                            progress=progress):
        final = out.sample
    return final
