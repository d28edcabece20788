"""Gaussian diffusion (DDPM / iDDPM / ADM): forward process, reverse-process parameterisation, guidance, losses.

Coefficients are precomputed in float64 numpy. They are applied in float64 to float64 inputs and in float32
otherwise (the reference implementation's precision), so float32 results match it and float64 runs are exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from benchmark.diffusion.config import DiffusionConfig, LossType, MeanType, VarianceType
from benchmark.diffusion.losses import discretized_gaussian_log_likelihood, mean_flat, normal_kl
from benchmark.diffusion.schedules import named_betas, respaced_betas
from benchmark.errors import InputError

ModelFn = Callable[..., torch.Tensor]  # model(x_t, t, **model_kwargs) -> [N, C or 2C, ...]
CondFn = Callable[..., torch.Tensor]  # cond_fn(x_t, t, **model_kwargs) -> s * grad_x log p(y | x_t)
NoiseFn = Callable[[torch.Tensor], torch.Tensor]  # randn_like-style noise source

_LN2 = float(np.log(2.0))


@dataclass(frozen=True)
class MeanVariance:
    """p_theta(x_{t-1} | x_t) and the model's x_0 prediction; all tensors have x_t's shape."""

    mean: torch.Tensor
    variance: torch.Tensor
    log_variance: torch.Tensor
    pred_xstart: torch.Tensor


#----------------------------------------------------------------------------

class GaussianDiffusion:
    """A (possibly respaced) Gaussian diffusion process with T = len(betas) steps.

    `timestep_map[i]` is the original-schedule index of step i of a respaced process; the model is always
    called with original indices (as floats scaled to 0..1000 when `rescale_timesteps`).
    """

    def __init__(
        self,
        betas: np.ndarray | Sequence[float],
        *,
        mean_type: MeanType,
        variance_type: VarianceType,
        loss_type: LossType,
        lambda_vlb: float = 0.001,
        rescale_timesteps: bool = False,
        timestep_map: Sequence[int] | None = None,
        original_num_steps: int | None = None,
    ) -> None:
        betas = np.array(betas, dtype=np.float64)
        if betas.ndim != 1 or betas.size == 0:
            raise InputError(f"betas must be a non-empty 1-D array, got shape {betas.shape}")
        if not ((betas > 0).all() and (betas <= 1).all()):
            raise InputError("betas must lie in (0, 1]")
        self.mean_type = mean_type
        self.variance_type = variance_type
        self.loss_type = loss_type
        self.lambda_vlb = float(lambda_vlb)
        self.rescale_timesteps = bool(rescale_timesteps)
        self.num_timesteps = int(betas.shape[0])
        identity = range(self.num_timesteps)
        self.timestep_map = tuple(identity if timestep_map is None else (int(i) for i in timestep_map))
        if len(self.timestep_map) != self.num_timesteps:
            raise InputError(f"timestep_map has {len(self.timestep_map)} entries for {self.num_timesteps} steps")
        self.original_num_steps = self.num_timesteps if original_num_steps is None else int(original_num_steps)
        self._identity_map = self.timestep_map == tuple(range(self.num_timesteps))
        self._buffers: dict[tuple[str, str, torch.dtype], torch.Tensor] = {}  # per-device tensor copies

        # Forward process q(x_t | x_0) (DDPM Eq. 4).
        self.betas = betas
        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas, axis=0)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.alphas_cumprod_next = np.append(self.alphas_cumprod[1:], 0.0)
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.one_minus_alphas_cumprod = 1.0 - self.alphas_cumprod
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.log_one_minus_alphas_cumprod = np.log(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1)

        # Posterior q(x_{t-1} | x_t, x_0) (DDPM Eqs. 6-7); the log variance at t = 0 (where it is 0) is clipped
        # to the t = 1 value.
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        pv_clip = np.append(self.posterior_variance[1], self.posterior_variance[1:]) if self.num_timesteps > 1 \
            else self.posterior_variance.copy()
        with np.errstate(divide="ignore"):  # a 1-step process has a zero posterior variance
            self.posterior_log_variance_clipped = np.log(pv_clip)
        self.posterior_mean_coef1 = betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)
        self.recip_posterior_mean_coef1 = 1.0 / self.posterior_mean_coef1
        self.posterior_mean_coef_ratio = self.posterior_mean_coef2 / self.posterior_mean_coef1

        # Fixed reverse variances: beta~_t (small) or beta_t with beta~_1 at t = 0 (large).
        self.log_betas = np.log(betas)
        self.fixed_large_variance = np.append(pv_clip[0], betas[1:])
        with np.errstate(divide="ignore"):
            self.fixed_large_log_variance = np.log(self.fixed_large_variance)

    @classmethod
    def from_config(cls, config: DiffusionConfig) -> GaussianDiffusion:
        """Build the (respaced) process a DiffusionConfig describes."""
        base = named_betas(config.schedule, config.steps)
        kept = config.kept_timesteps()
        return cls(
            respaced_betas(base, kept),
            mean_type=config.mean_type,
            variance_type=config.variance_type,
            loss_type=config.loss_type,
            lambda_vlb=config.lambda_vlb,
            rescale_timesteps=config.rescale_timesteps,
            timestep_map=kept,
            original_num_steps=config.steps,
        )

    #------------------------------------------------------------------------
    # Coefficient lookup.

    def coef(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Coefficient array `name` at steps t, shaped [N, 1, ..., 1] for `like`.

        float64 for float64 inputs, else float32 (the reference's precision)."""
        dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
        key = (name, str(t.device), dtype)
        buf = self._buffers.get(key)
        if buf is None:
            buf = torch.from_numpy(np.ascontiguousarray(getattr(self, name))).to(device=t.device, dtype=dtype)
            self._buffers[key] = buf
        return buf[t].reshape(-1, *([1] * (like.ndim - 1)))

    def model_timesteps(self, t: torch.Tensor) -> torch.Tensor:
        """Timesteps as the model sees them: original-schedule indices, optionally scaled to 0..1000."""
        if not self._identity_map:
            key = ("timestep_map", str(t.device), t.dtype)
            table = self._buffers.get(key)
            if table is None:
                table = torch.tensor(self.timestep_map, device=t.device, dtype=t.dtype)
                self._buffers[key] = table
            t = table[t]
        if self.rescale_timesteps:
            return t.float() * (1000.0 / self.original_num_steps)
        return t

    #------------------------------------------------------------------------
    # Forward process.

    def q_mean_variance(
        self, x_start: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and log variance of q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)."""
        mean = self.coef("sqrt_alphas_cumprod", t, x_start) * x_start
        variance = self.coef("one_minus_alphas_cumprod", t, x_start).expand(x_start.shape)
        log_variance = self.coef("log_one_minus_alphas_cumprod", t, x_start).expand(x_start.shape)
        return mean, variance, log_variance

    def q_sample(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Sample x_t ~ q(x_t | x_0) (DDPM Eq. 4) with the given (or fresh global-RNG) standard normal noise."""
        if noise is None:
            noise = torch.randn_like(x_start)
        if noise.shape != x_start.shape:
            raise ValueError(f"noise shape {tuple(noise.shape)} != x_start shape {tuple(x_start.shape)}")
        return (
            self.coef("sqrt_alphas_cumprod", t, x_start) * x_start
            + self.coef("sqrt_one_minus_alphas_cumprod", t, x_start) * noise
        )

    def q_posterior_mean_variance(
        self, x_start: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and clipped log variance of the posterior q(x_{t-1} | x_t, x_0) (DDPM Eqs. 6-7)."""
        if x_start.shape != x_t.shape:
            raise ValueError(f"x_start shape {tuple(x_start.shape)} != x_t shape {tuple(x_t.shape)}")
        mean = self.coef("posterior_mean_coef1", t, x_t) * x_start + self.coef("posterior_mean_coef2", t, x_t) * x_t
        variance = self.coef("posterior_variance", t, x_t).expand(x_t.shape)
        log_variance = self.coef("posterior_log_variance_clipped", t, x_t).expand(x_t.shape)
        return mean, variance, log_variance

    #------------------------------------------------------------------------
    # Parameterisation conversions.

    def predict_xstart_from_eps(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
        return (
            self.coef("sqrt_recip_alphas_cumprod", t, x_t) * x_t
            - self.coef("sqrt_recipm1_alphas_cumprod", t, x_t) * eps
        )

    def predict_eps_from_xstart(self, x_t: torch.Tensor, t: torch.Tensor, pred_xstart: torch.Tensor) -> torch.Tensor:
        """eps = (x_t / sqrt(abar_t) - x_0) / sqrt(1 / abar_t - 1)."""
        return (self.coef("sqrt_recip_alphas_cumprod", t, x_t) * x_t - pred_xstart) / self.coef(
            "sqrt_recipm1_alphas_cumprod", t, x_t
        )

    def predict_xstart_from_xprev(self, x_t: torch.Tensor, t: torch.Tensor, xprev: torch.Tensor) -> torch.Tensor:
        """Invert the posterior mean: x_0 = (x_{t-1} - coef2 x_t) / coef1."""
        return (
            self.coef("recip_posterior_mean_coef1", t, x_t) * xprev
            - self.coef("posterior_mean_coef_ratio", t, x_t) * x_t
        )

    #------------------------------------------------------------------------
    # Reverse process.

    def p_mean_variance(
        self,
        model: ModelFn,
        x: torch.Tensor,
        t: torch.Tensor,
        *,
        clip_denoised: bool = True,
        denoised_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
        model_kwargs: dict[str, object] | None = None,
    ) -> MeanVariance:
        """Run the model at (x_t, t) and turn its output into p_theta(x_{t-1} | x_t) and a prediction of x_0."""
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must have shape ({x.shape[0]},), got {tuple(t.shape)}")
        output = model(x, self.model_timesteps(t), **(model_kwargs or {}))
        return self.mean_variance_from_output(output, x, t, clip_denoised=clip_denoised, denoised_fn=denoised_fn)

    def mean_variance_from_output(
        self,
        output: torch.Tensor,
        x: torch.Tensor,
        t: torch.Tensor,
        *,
        clip_denoised: bool = True,
        denoised_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> MeanVariance:
        """The reverse-process Gaussian given a model output (2*C channels when the variance is learned)."""
        n, c = x.shape[:2]
        if self.variance_type.is_learned:
            if output.shape != (n, 2 * c, *x.shape[2:]):
                raise ValueError(
                    f"model output {tuple(output.shape)} must have 2*C = {2 * c} channels (learned variance)"
                )
            output, var_values = torch.split(output, c, dim=1)
            if self.variance_type is VarianceType.LEARNED:
                log_variance = var_values
            else:
                # iDDPM Eq. 15: v in [-1, 1] interpolates between log beta~_t and log beta_t.
                min_log = self.coef("posterior_log_variance_clipped", t, x)
                max_log = self.coef("log_betas", t, x)
                frac = (var_values + 1) / 2
                log_variance = frac * max_log + (1 - frac) * min_log
            variance = torch.exp(log_variance)
        else:
            if output.shape != x.shape:
                raise ValueError(f"model output {tuple(output.shape)} must match x {tuple(x.shape)}")
            if self.variance_type is VarianceType.FIXED_LARGE:
                var_name, log_name = "fixed_large_variance", "fixed_large_log_variance"
            else:
                var_name, log_name = "posterior_variance", "posterior_log_variance_clipped"
            variance = self.coef(var_name, t, x).expand(x.shape)
            log_variance = self.coef(log_name, t, x).expand(x.shape)

        def process_xstart(x0: torch.Tensor) -> torch.Tensor:
            if denoised_fn is not None:
                x0 = denoised_fn(x0)
            return x0.clamp(-1, 1) if clip_denoised else x0

        if self.mean_type is MeanType.PREVIOUS_X:
            pred_xstart = process_xstart(self.predict_xstart_from_xprev(x, t, output))
            mean = output
        else:
            raw = output if self.mean_type is MeanType.START_X else self.predict_xstart_from_eps(x, t, output)
            pred_xstart = process_xstart(raw)
            mean, _, _ = self.q_posterior_mean_variance(pred_xstart, x, t)
        return MeanVariance(mean=mean, variance=variance, log_variance=log_variance, pred_xstart=pred_xstart)

    #------------------------------------------------------------------------
    # Classifier guidance (ADM Section 4).

    def condition_mean(
        self,
        cond_fn: CondFn,
        p_mean_var: MeanVariance,
        x: torch.Tensor,
        t: torch.Tensor,
        model_kwargs: dict[str, object] | None = None,
    ) -> torch.Tensor:
        """Algorithm 1: shifted mean mu + Sigma * (s grad log p(y | x_t)); cond_fn returns the scaled gradient."""
        gradient = cond_fn(x, self.model_timesteps(t), **(model_kwargs or {}))
        return p_mean_var.mean + p_mean_var.variance * gradient.to(p_mean_var.mean.dtype)

    def condition_score(
        self,
        cond_fn: CondFn,
        p_mean_var: MeanVariance,
        x: torch.Tensor,
        t: torch.Tensor,
        model_kwargs: dict[str, object] | None = None,
    ) -> MeanVariance:
        """Algorithm 2 (DDIM): eps' = eps - sqrt(1 - abar_t) * (s grad log p(y | x_t)); mean and x_0 re-derived."""
        alpha_bar = self.coef("alphas_cumprod", t, x)
        eps = self.predict_eps_from_xstart(x, t, p_mean_var.pred_xstart)
        eps = eps - (1 - alpha_bar).sqrt() * cond_fn(x, self.model_timesteps(t), **(model_kwargs or {}))
        pred_xstart = self.predict_xstart_from_eps(x, t, eps)
        mean, _, _ = self.q_posterior_mean_variance(pred_xstart, x, t)
        return replace(p_mean_var, mean=mean, pred_xstart=pred_xstart)

    #------------------------------------------------------------------------
    # Variational bound and training losses.

    def vb_terms_bpd(
        self, x_start: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, p_mean_var: MeanVariance
    ) -> torch.Tensor:
        """One term of the bound per sample, in bits per dim: decoder NLL at t = 0, else KL(q posterior || p)."""
        true_mean, _, true_log_variance = self.q_posterior_mean_variance(x_start, x_t, t)
        kl = normal_kl(true_mean, true_log_variance, p_mean_var.mean, p_mean_var.log_variance)
        kl = mean_flat(kl) / _LN2
        decoder_nll = -discretized_gaussian_log_likelihood(
            x_start, means=p_mean_var.mean, log_scales=0.5 * p_mean_var.log_variance
        )
        decoder_nll = mean_flat(decoder_nll) / _LN2
        return torch.where(t == 0, decoder_nll, kl)

    def vb_weight(self) -> float:
        """Weight of the single-step vb term in the MSE losses (L_hybrid = L_simple + lambda * L_vlb).

        RESCALED_MSE: lambda * T (an unbiased lambda * L_vlb estimate). MSE: lambda * 1000, the reference's unit
        weight at the default lambda = 0.001 (equal to RESCALED_MSE when T = 1000).
        """
        if self.loss_type is LossType.RESCALED_MSE:
            return self.lambda_vlb * 1000.0 * (self.num_timesteps / 1000.0)
        return self.lambda_vlb * 1000.0

    def training_losses(
        self,
        model: ModelFn,
        x_start: torch.Tensor,
        t: torch.Tensor,
        *,
        model_kwargs: dict[str, object] | None = None,
        noise: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Per-sample losses at timesteps t: "loss" always, plus "mse" and (learned variance) "vb" for MSE types."""
        if noise is None:
            noise = torch.randn_like(x_start)
        x_t = self.q_sample(x_start, t, noise=noise)
        output = model(x_t, self.model_timesteps(t), **(model_kwargs or {}))
        terms: dict[str, torch.Tensor] = {}

        if self.loss_type.is_vb():
            mv = self.mean_variance_from_output(output, x_t, t, clip_denoised=False)
            terms["loss"] = self.vb_terms_bpd(x_start, x_t, t, mv)
            if self.loss_type is LossType.RESCALED_KL:
                terms["loss"] = terms["loss"] * self.num_timesteps
            return terms

        mean_output = output
        if self.variance_type.is_learned:
            c = x_t.shape[1]
            mean_output, var_values = torch.split(output, c, dim=1)
            # L_vlb trains only the variance: the mean enters through a stop-gradient (iDDPM Section 3.1).
            frozen = torch.cat([mean_output.detach(), var_values], dim=1)
            mv = self.mean_variance_from_output(frozen, x_t, t, clip_denoised=False)
            terms["vb"] = self.vb_terms_bpd(x_start, x_t, t, mv) * self.vb_weight()
        if self.mean_type is MeanType.PREVIOUS_X:
            target = self.q_posterior_mean_variance(x_start, x_t, t)[0]
        elif self.mean_type is MeanType.START_X:
            target = x_start
        else:
            target = noise
        if mean_output.shape != target.shape:
            raise ValueError(f"model output {tuple(mean_output.shape)} does not match the target {tuple(target.shape)}")
        terms["mse"] = mean_flat((target - mean_output) ** 2)  # L_simple (DDPM Eq. 14)
        terms["loss"] = terms["mse"] + terms["vb"] if "vb" in terms else terms["mse"]
        return terms

    def prior_bpd(self, x_start: torch.Tensor) -> torch.Tensor:
        """KL(q(x_T | x_0) || N(0, I)) per sample, in bits per dim."""
        t = torch.full((x_start.shape[0],), self.num_timesteps - 1, dtype=torch.long, device=x_start.device)
        mean, _, log_variance = self.q_mean_variance(x_start, t)
        return mean_flat(normal_kl(mean, log_variance, 0.0, 0.0)) / _LN2

    def calc_bpd_loop(
        self,
        model: ModelFn,
        x_start: torch.Tensor,
        *,
        clip_denoised: bool = True,
        model_kwargs: dict[str, object] | None = None,
        noise_fn: NoiseFn | None = None,
    ) -> dict[str, torch.Tensor]:
        """The whole variational bound in bits per dim (DDPM Eq. 5), one q_sample per timestep from T-1 to 0.

        Returns total_bpd [N], prior_bpd [N], vb [N, T], xstart_mse [N, T] and (eps) mse [N, T].
        """
        randn_like = torch.randn_like if noise_fn is None else noise_fn
        n = x_start.shape[0]
        vb, xstart_mse, mse = [], [], []
        for i in reversed(range(self.num_timesteps)):
            t = torch.full((n,), i, dtype=torch.long, device=x_start.device)
            noise = randn_like(x_start)
            x_t = self.q_sample(x_start, t, noise=noise)
            with torch.no_grad():
                mv = self.p_mean_variance(model, x_t, t, clip_denoised=clip_denoised, model_kwargs=model_kwargs)
                vb.append(self.vb_terms_bpd(x_start, x_t, t, mv))
            xstart_mse.append(mean_flat((mv.pred_xstart - x_start) ** 2))
            eps = self.predict_eps_from_xstart(x_t, t, mv.pred_xstart)
            mse.append(mean_flat((eps - noise) ** 2))
        vb_t = torch.stack(vb, dim=1)
        prior = self.prior_bpd(x_start)
        return {
            "total_bpd": vb_t.sum(dim=1) + prior,
            "prior_bpd": prior,
            "vb": vb_t,
            "xstart_mse": torch.stack(xstart_mse, dim=1),
            "mse": torch.stack(mse, dim=1),
        }
