"""Closed-form and Monte Carlo checks of the diffusion process against independent formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from benchmark.diffusion import DiffusionConfig, GaussianDiffusion, LossType, MeanType, VarianceType
from benchmark.diffusion.losses import discretized_gaussian_log_likelihood, normal_kl

# Independent schedule (Ho et al.): 1e-4 .. 0.02 over 1000 steps, scaled by 1000/T.


def linear_betas_ref(steps: int) -> np.ndarray:
    return np.array([(1000 / steps) * (1e-4 + (0.02 - 1e-4) * i / (steps - 1)) for i in range(steps)])


def diffusion(steps: int = 1000, var: VarianceType = VarianceType.FIXED_SMALL, mean: MeanType = MeanType.EPSILON,
              loss: LossType = LossType.MSE, respacing: str = "", lambda_vlb: float = 0.001) -> GaussianDiffusion:
    return GaussianDiffusion.from_config(DiffusionConfig(steps=steps, variance_type=var, mean_type=mean, loss_type=loss,
                                                         timestep_respacing=respacing, lambda_vlb=lambda_vlb))


#----------------------------------------------------------------------------

def test_q_sample_moments_monte_carlo():
    d = diffusion()
    abar = np.cumprod(1 - linear_betas_ref(1000))
    n = 200_000
    gen = torch.Generator().manual_seed(0)
    for t_val, x0 in ((0, 0.7), (250, -0.4), (999, 0.9)):
        x_start = torch.full((n, 1), x0, dtype=torch.float64)
        t = torch.full((n,), t_val, dtype=torch.long)
        x_t = d.q_sample(x_start, t, noise=torch.randn(n, 1, dtype=torch.float64, generator=gen)).numpy()
        mean, var = math.sqrt(abar[t_val]) * x0, 1 - abar[t_val]
        se = math.sqrt(var / n)
        assert abs(x_t.mean() - mean) < 5 * se
        assert abs(x_t.var() - var) < 5 * var * math.sqrt(2 / n)


def test_q_mean_variance_closed_form():
    d = diffusion(steps=200)
    abar = np.cumprod(1 - linear_betas_ref(200))
    x0 = torch.linspace(-1, 1, 5, dtype=torch.float64).repeat(4, 1)
    t = torch.tensor([0, 7, 100, 199])
    mean, var, log_var = d.q_mean_variance(x0, t)
    np.testing.assert_allclose(mean.numpy(), np.sqrt(abar[t.numpy()])[:, None] * x0.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var.numpy(), np.broadcast_to((1 - abar[t.numpy()])[:, None], (4, 5)), rtol=1e-12)
    np.testing.assert_allclose(log_var.numpy(), np.log(var.numpy()), rtol=1e-12)


def test_posterior_matches_gaussian_conditioning():
    """q(x_{t-1} | x_t, x_0) ∝ q(x_t | x_{t-1}) q(x_{t-1} | x_0): precisions add, means are precision-weighted."""
    steps = 100
    d = diffusion(steps=steps)
    betas = linear_betas_ref(steps)
    abar = np.cumprod(1 - betas)
    rng = np.random.default_rng(0)
    t = np.array([1, 2, 50, 99])
    x0, xt = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    mean, var, log_var = d.q_posterior_mean_variance(torch.tensor(x0), torch.tensor(xt), torch.tensor(t))
    prior_var = 1 - abar[t - 1]
    precision = 1 / prior_var + (1 - betas[t]) / betas[t]
    exp_var = 1 / precision
    exp_mean = exp_var[:, None] * (np.sqrt(abar[t - 1])[:, None] * x0 / prior_var[:, None]
                                   + np.sqrt(1 - betas[t])[:, None] * xt / betas[t][:, None])
    np.testing.assert_allclose(mean.numpy(), exp_mean, rtol=1e-9)
    np.testing.assert_allclose(var.numpy()[:, 0], exp_var, rtol=1e-9)
    np.testing.assert_allclose(log_var.numpy()[:, 0], np.log(exp_var), rtol=1e-9)
    # t = 0: x_{-1} is x_0 itself (variance 0); the log variance is clipped to the t = 1 value.
    t0 = torch.zeros(4, dtype=torch.long)
    mean0, var0, log_var0 = d.q_posterior_mean_variance(torch.tensor(x0), torch.tensor(xt), t0)
    np.testing.assert_allclose(mean0.numpy(), x0, rtol=1e-12)
    assert (var0 == 0).all()
    np.testing.assert_allclose(log_var0.numpy(), np.log(betas[1] * (1 - abar[0]) / (1 - abar[1])), rtol=1e-12)


def test_normal_kl_monte_carlo():
    gen = torch.Generator().manual_seed(1)
    n = 400_000
    for m1, lv1, m2, lv2 in ((0.3, -1.0, -0.2, 0.5), (1.0, 0.2, 1.0, 0.2), (-2.0, 1.0, 0.0, 0.0)):
        s1 = math.exp(0.5 * lv1)
        x = m1 + s1 * torch.randn(n, dtype=torch.float64, generator=gen)
        log_p1 = -0.5 * (lv1 + math.log(2 * math.pi) + (x - m1) ** 2 / math.exp(lv1))
        log_p2 = -0.5 * (lv2 + math.log(2 * math.pi) + (x - m2) ** 2 / math.exp(lv2))
        diff = (log_p1 - log_p2).numpy()
        kl = normal_kl(torch.tensor(m1, dtype=torch.float64), lv1, m2, lv2).item()
        assert abs(diff.mean() - kl) < 5 * diff.std() / math.sqrt(n) + 1e-12


def test_discretized_gaussian_against_exact_cdf_and_normalisation():
    grid = torch.arange(256, dtype=torch.float64) / 127.5 - 1.0
    for mean, log_scale in ((0.1, math.log(0.05)), (-0.95, math.log(0.3)), (0.5, math.log(0.004))):
        means = torch.full_like(grid, mean)
        log_scales = torch.full_like(grid, log_scale)
        logp = discretized_gaussian_log_likelihood(grid, means=means, log_scales=log_scales)
        # The 256 bins tile the real line, so the probabilities sum to one.
        assert abs(logp.exp().sum().item() - 1.0) < 1e-6
        sd = math.exp(log_scale)
        g = grid.numpy()
        upper = np.where(g > 0.999, 1.0, norm.cdf((g + 1 / 255 - mean) / sd))
        lower = np.where(g < -0.999, 0.0, norm.cdf((g - 1 / 255 - mean) / sd))
        exact = upper - lower
        big = exact > 1e-3
        # The tanh approximation of the normal CDF is accurate to ~2e-4 absolute.
        np.testing.assert_allclose(logp.exp().numpy()[big], exact[big], atol=5e-4)


def test_bits_per_dim_of_an_exact_model():
    """A model that knows x_0 predicts the exact noise: every KL term vanishes and the bound is prior + decoder."""
    steps = 50
    d = diffusion(steps=steps)
    betas = linear_betas_ref(steps)
    abar = np.cumprod(1 - betas)
    rng = np.random.default_rng(2)
    x0 = torch.tensor(rng.integers(0, 256, size=(2, 3, 4, 4)) / 127.5 - 1.0)
    x0[0, 0, 0, 0], x0[0, 0, 0, 1] = -1.0, 1.0
    abar_t = torch.tensor(abar)

    def exact_eps(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = abar_t[t].view(-1, 1, 1, 1)
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    gen = torch.Generator().manual_seed(3)
    out = d.calc_bpd_loop(exact_eps, x0, clip_denoised=False,
                          noise_fn=lambda x: torch.randn(x.shape, dtype=x.dtype, generator=gen))
    assert out["vb"].shape == (2, steps)
    np.testing.assert_allclose(out["vb"][:, :-1].numpy(), 0.0, atol=1e-9)  # t = T-1 .. 1
    np.testing.assert_allclose(out["xstart_mse"].numpy(), 0.0, atol=1e-20)
    # Prior: KL(N(sqrt(abar_T) x0, 1 - abar_T) || N(0, 1)) per dim, in bits.
    a_T = abar[-1]
    prior = 0.5 * (-1 - math.log(1 - a_T) + (1 - a_T) + a_T * x0.numpy() ** 2) / math.log(2)
    np.testing.assert_allclose(out["prior_bpd"].numpy(), prior.mean(axis=(1, 2, 3)), rtol=1e-10)
    # Decoder at t = 0: mean x_0, variance beta~_1, probability of x_0's bin.
    sd = math.sqrt(betas[1] * (1 - abar[0]) / (1 - abar[1]))
    x = x0.numpy()
    upper = np.where(x > 0.999, 1.0, norm.cdf(1 / 255 / sd))
    lower = np.where(x < -0.999, 0.0, norm.cdf(-1 / 255 / sd))
    decoder = (-np.log(upper - lower) / math.log(2)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(out["vb"][:, -1].numpy(), decoder, rtol=2e-3)
    np.testing.assert_allclose(out["total_bpd"].numpy(), decoder + prior.mean(axis=(1, 2, 3)), rtol=2e-3)


#----------------------------------------------------------------------------
# Classifier guidance.

@pytest.mark.parametrize("var", [VarianceType.FIXED_SMALL, VarianceType.LEARNED_RANGE])
def test_guidance_shifts_mean_by_scaled_sigma_gradient(var: VarianceType):
    steps = 100
    d = diffusion(steps=steps, var=var, respacing="20")
    kept = list(d.timestep_map)
    abar_full = np.cumprod(1 - linear_betas_ref(steps))
    abar = abar_full[kept]
    abar_prev = np.append(1.0, abar[:-1])
    beta = 1 - abar / abar_prev
    post_var = beta * (1 - abar_prev) / (1 - abar)
    rng = np.random.default_rng(4)
    shape = (3, 2, 4, 4)
    x = torch.tensor(rng.normal(size=shape))
    t = torch.tensor([0, 7, 19])
    g = torch.tensor(rng.normal(size=shape))
    v = torch.tensor(rng.uniform(-1, 1, size=shape))
    seen: list[torch.Tensor] = []

    def model(x_t: torch.Tensor, ts: torch.Tensor) -> torch.Tensor:
        eps = 0.3 * x_t
        return torch.cat([eps, v], dim=1) if var.is_learned else eps

    def cond_fn(x_t: torch.Tensor, ts: torch.Tensor) -> torch.Tensor:
        seen.append(ts)
        return g

    mv = d.p_mean_variance(model, x, t, clip_denoised=False)
    shift = d.condition_mean(cond_fn, mv, x, t) - mv.mean
    tn = t.numpy()
    if var is VarianceType.FIXED_SMALL:
        sigma2 = np.broadcast_to(post_var[tn].reshape(-1, 1, 1, 1), shape)
    else:
        min_log = np.log(np.append(post_var[1], post_var[1:]))[tn].reshape(-1, 1, 1, 1)
        frac = (v.numpy() + 1) / 2
        sigma2 = np.exp(frac * np.log(beta[tn]).reshape(-1, 1, 1, 1) + (1 - frac) * min_log)
    np.testing.assert_allclose(shift.numpy(), sigma2 * g.numpy(), rtol=1e-10, atol=1e-15)
    # The guide sees original-schedule timesteps.
    assert seen[-1].tolist() == [kept[i] for i in tn]

    # Algorithm 2: eps' = eps - sqrt(1 - abar) g, so x_0' = x_0 + (1 - abar) / sqrt(abar) g.
    scored = d.condition_score(cond_fn, mv, x, t)
    a = abar[tn].reshape(-1, 1, 1, 1)
    np.testing.assert_allclose((scored.pred_xstart - mv.pred_xstart).numpy(), (1 - a) / np.sqrt(a) * g.numpy(),
                               rtol=1e-8, atol=1e-12)
    assert scored.variance is mv.variance
