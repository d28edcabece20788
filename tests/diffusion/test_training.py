"""Training objective: L_simple targets, the hybrid weighting, the stop-gradient on the vb term, a toy fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.diffusion import DiffusionConfig, GaussianDiffusion, LossType, MeanType, VarianceType
from benchmark.diffusion.timestep_sampler import UniformSampler


def _diffusion(loss: LossType, var: VarianceType = VarianceType.LEARNED_RANGE, mean: MeanType = MeanType.EPSILON,
               respacing: str = "", lambda_vlb: float = 0.001, steps: int = 100) -> GaussianDiffusion:
    return GaussianDiffusion.from_config(DiffusionConfig(steps=steps, loss_type=loss, variance_type=var, mean_type=mean,
                                                         timestep_respacing=respacing, lambda_vlb=lambda_vlb))


def _inputs(seed: int = 0, shape: tuple[int, ...] = (4, 2, 4, 4)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    x0 = torch.tensor(rng.integers(0, 256, size=shape) / 127.5 - 1.0)
    noise = torch.tensor(rng.normal(size=shape))
    t = torch.tensor([0, 1, 37, 99][: shape[0]])
    return x0, noise, t


@pytest.mark.parametrize("mean", list(MeanType))
def test_mse_targets(mean: MeanType):
    d = _diffusion(LossType.MSE, var=VarianceType.FIXED_LARGE, mean=mean)
    x0, noise, t = _inputs()
    out = torch.tensor(np.random.default_rng(1).normal(size=x0.shape))
    terms = d.training_losses(lambda x, ts: out, x0, t, noise=noise)
    abar = np.cumprod(1 - np.linspace(1e-3, 0.2, 100))
    a = abar[t.numpy()].reshape(-1, 1, 1, 1)
    x_t = np.sqrt(a) * x0.numpy() + np.sqrt(1 - a) * noise.numpy()
    if mean is MeanType.EPSILON:
        target = noise.numpy()
    elif mean is MeanType.START_X:
        target = x0.numpy()
    else:
        target = d.q_posterior_mean_variance(x0, torch.tensor(x_t), t)[0].numpy()
    np.testing.assert_allclose(terms["mse"].numpy(), ((target - out.numpy()) ** 2).mean(axis=(1, 2, 3)), rtol=1e-10)
    assert set(terms) == {"mse", "loss"}
    assert torch.equal(terms["loss"], terms["mse"])


def test_hybrid_weights_follow_lambda_and_steps():
    """RESCALED_MSE adds lambda * T * L_t; MSE adds lambda * 1000 * L_t; L_t equals the KL objective's term."""
    x0, noise, t = _inputs()
    out = torch.tensor(np.random.default_rng(2).uniform(-1, 1, size=(4, 4, 4, 4)))
    model = lambda x, ts: out  # noqa: E731
    raw_vb = _diffusion(LossType.KL, respacing="25").training_losses(model, x0, t % 25, noise=noise)["loss"]
    for loss, lam, weight in ((LossType.RESCALED_MSE, 0.001, 0.001 * 25), (LossType.MSE, 0.001, 1.0),
                              (LossType.RESCALED_MSE, 0.004, 0.004 * 25), (LossType.MSE, 0.0, 0.0)):
        terms = _diffusion(loss, respacing="25", lambda_vlb=lam).training_losses(model, x0, t % 25, noise=noise)
        np.testing.assert_allclose(terms["vb"].numpy(), weight * raw_vb.numpy(), rtol=1e-12)
        np.testing.assert_allclose(terms["loss"].numpy(), (terms["mse"] + terms["vb"]).numpy(), rtol=1e-12)
    rescaled_kl = _diffusion(LossType.RESCALED_KL, respacing="25").training_losses(model, x0, t % 25, noise=noise)
    np.testing.assert_allclose(rescaled_kl["loss"].numpy(), 25 * raw_vb.numpy(), rtol=1e-12)


def test_vb_term_trains_only_the_variance():
    d = _diffusion(LossType.MSE)
    x0, noise, t = _inputs()
    out = torch.tensor(np.random.default_rng(3).uniform(-1, 1, size=(4, 4, 4, 4)), requires_grad=True)
    terms = d.training_losses(lambda x, ts: out, x0, t, noise=noise)
    (grad_vb,) = torch.autograd.grad(terms["vb"].sum(), out, retain_graph=True)
    assert (grad_vb[:, :2] == 0).all() and (grad_vb[:, 2:].abs() > 0).any()
    (grad_mse,) = torch.autograd.grad(terms["mse"].sum(), out)
    assert (grad_mse[:, 2:] == 0).all() and (grad_mse[:, :2].abs() > 0).all()


class TinyDenoiser(nn.Module):
    """Two convolutions with a sinusoidal timestep feature; 2*C outputs (eps and variance)."""

    def __init__(self, channels: int = 1, width: int = 16) -> None:
        super().__init__()
        self.inp = nn.Conv2d(channels + 2, width, 3, padding=1)
        self.out = nn.Conv2d(width, 2 * channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tf = t.float().view(-1, 1, 1, 1) / 100.0
        feats = torch.cat([x, torch.sin(tf).expand_as(x), torch.cos(tf).expand_as(x)], dim=1)
        return self.out(torch.relu(self.inp(feats)))


def test_a_few_training_steps_lower_the_hybrid_loss():
    torch.manual_seed(0)
    d = _diffusion(LossType.RESCALED_MSE, steps=100)
    model = TinyDenoiser()
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    gen = torch.Generator().manual_seed(1)
    # Data: two fixed 8x8 patterns.
    base = torch.stack([torch.linspace(-1, 1, 8).repeat(8, 1), torch.linspace(-1, 1, 8).repeat(8, 1).T])[:, None]
    data = base.repeat(8, 1, 1, 1)  # [16, 1, 8, 8]
    eval_t = torch.randint(0, 100, (16,), generator=gen)
    eval_noise = torch.randn(data.shape, generator=gen)

    def eval_loss() -> float:
        with torch.no_grad():
            return d.training_losses(model, data, eval_t, noise=eval_noise)["loss"].mean().item()

    before = eval_loss()
    sampler = UniformSampler(d.num_timesteps)
    rng = np.random.default_rng(0)
    for _ in range(30):
        t, weights = sampler.sample(16, "cpu", rng=rng)
        noise = torch.randn(data.shape, generator=gen)
        loss = (d.training_losses(model, data, t, noise=noise)["loss"] * weights).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_loss()
    assert after < 0.6 * before, (before, after)
