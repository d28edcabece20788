"""Sampler properties: per-sample reproducibility, DDIM limits, guidance in a full step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.diffusion import (
    DiffusionConfig,
    GaussianDiffusion,
    SampleRNG,
    VarianceType,
    ddim_reverse_step,
    ddim_sample_loop,
    ddim_step,
    ddpm_sample_loop,
    ddpm_sample_loop_progressive,
    ddpm_step,
)
from benchmark.errors import InputError

from .toy_models import ChannelMixModel, ToyClassifier, make_cond_fn

SHAPE = (2, 4, 4)  # C, H, W per sample


def _diffusion(var: VarianceType = VarianceType.LEARNED_RANGE, respacing: str = "12") -> GaussianDiffusion:
    return GaussianDiffusion.from_config(DiffusionConfig(steps=60, variance_type=var, timestep_respacing=respacing))


def _run(kind: str, indices: list[int], seed: int = 7, eta: float = 0.5) -> torch.Tensor:
    d = _diffusion()
    model = ChannelMixModel(SHAPE[0], learned_variance=True)
    cond_fn = make_cond_fn(ToyClassifier(SHAPE[0]), 1.5)
    rng = SampleRNG.for_samples(seed, indices)
    x_T = rng.randn((len(indices), *SHAPE))
    kwargs = {"y": torch.tensor([i % 4 for i in indices])}
    if kind == "ddpm":
        return ddpm_sample_loop(d, model, x_T, rng.randn_like, cond_fn=cond_fn, model_kwargs=kwargs)
    return ddim_sample_loop(d, model, x_T, rng.randn_like, eta=eta, cond_fn=cond_fn, model_kwargs=kwargs)


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
def test_samples_are_independent_of_batching(kind: str):
    full = _run(kind, [0, 1, 2, 3])
    halves = torch.cat([_run(kind, [0, 1]), _run(kind, [2, 3])])
    singles = torch.cat([_run(kind, [i]) for i in range(4)])
    assert torch.equal(full, halves)
    assert torch.equal(full, singles)
    # A resumed run (samples 2..3 only) reproduces the tail; the run is deterministic; seeds matter.
    assert torch.equal(_run(kind, [2, 3]), full[2:])
    assert torch.equal(_run(kind, [0, 1, 2, 3]), full)
    other = _run(kind, [0, 1, 2, 3], seed=8)
    assert not torch.allclose(other, full)
    assert len({tuple(s.flatten().tolist()) for s in full}) == 4  # samples differ from each other


def test_sample_rng_streams():
    rng = SampleRNG.for_samples(0, [5, 6])
    a = rng.randn((2, 3))
    b = SampleRNG.for_samples(0, [6]).randn((1, 3))
    assert torch.equal(a[1:], b)
    with pytest.raises(ValueError):
        rng.randn((3, 3))
    with pytest.raises(InputError):
        SampleRNG.for_samples(-1, [0])
    # (seed, index) pairs do not alias: (0, 1) differs from (1, 0).
    assert not torch.equal(SampleRNG.for_samples(0, [1]).randn((1, 4)), SampleRNG.for_samples(1, [0]).randn((1, 4)))


def test_ddim_eta_zero_is_deterministic_and_draws_no_noise():
    d = _diffusion()
    model = ChannelMixModel(SHAPE[0], learned_variance=True)
    x_T = SampleRNG.for_samples(3, range(3)).randn((3, *SHAPE))

    def forbidden(x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("eta = 0 must not draw noise")

    a = ddim_sample_loop(d, model, x_T, forbidden, eta=0.0)
    b = ddim_sample_loop(d, model, x_T, None, eta=0.0)
    assert torch.equal(a, b)
    with pytest.raises(ValueError):
        ddim_sample_loop(d, model, x_T, None, eta=1.0)


@pytest.mark.parametrize("clip", [True, False])
def test_ddim_eta_one_equals_ddpm_with_posterior_variance(clip: bool):
    """sigma_t(eta = 1) = sqrt(beta~_t): the DDIM step becomes the DDPM step with the fixed-small variance."""
    d = _diffusion(var=VarianceType.FIXED_SMALL, respacing="")
    model = ChannelMixModel(SHAPE[0], learned_variance=False)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(4, *SHAPE)))
    noise = torch.tensor(rng.normal(size=(4, *SHAPE)))
    t = torch.tensor([1, 10, 30, 59])
    ddim = ddim_step(d, model, x, t, lambda z: noise, eta=1.0, clip_denoised=clip)
    ddpm = ddpm_step(d, model, x, t, lambda z: noise, clip_denoised=clip)
    np.testing.assert_allclose(ddim.sample.numpy(), ddpm.sample.numpy(), rtol=1e-9, atol=1e-12)
    # At t = 0 neither adds noise.
    t0 = torch.zeros(4, dtype=torch.long)
    assert torch.allclose(ddim_step(d, model, x, t0, lambda z: noise, eta=1.0).sample,
                          ddpm_step(d, model, x, t0, lambda z: noise).sample, rtol=1e-9, atol=1e-12)


def test_ddim_reverse_then_forward_round_trips():
    """For a model whose x_0 prediction is exact, DDIM encoding (t -> t+1) then decoding (t+1 -> t) is the identity."""
    d = _diffusion(var=VarianceType.FIXED_SMALL, respacing="")
    rng = np.random.default_rng(1)
    x0 = torch.tensor(rng.uniform(-0.9, 0.9, size=(2, *SHAPE)))
    abar = torch.tensor(np.cumprod(1 - np.linspace(1e-4 * 1000 / 60, 0.02 * 1000 / 60, 60)))

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = abar[t].view(-1, 1, 1, 1)
        return (x - a.sqrt() * x0) / (1 - a).sqrt()

    x = torch.tensor(rng.normal(size=(2, *SHAPE)))
    t = torch.tensor([5, 20])
    up = ddim_reverse_step(d, model, x, t, clip_denoised=False)
    down = ddim_step(d, model, up.sample, t + 1, None, eta=0.0, clip_denoised=False)
    np.testing.assert_allclose(down.sample.numpy(), x.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(up.pred_xstart.numpy(), x0.numpy(), rtol=1e-9, atol=1e-12)


def test_guided_ddpm_step_equals_unguided_plus_sigma_g():
    d = _diffusion()
    model = ChannelMixModel(SHAPE[0], learned_variance=True)
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.normal(size=(3, *SHAPE)))
    noise = torch.tensor(rng.normal(size=(3, *SHAPE)))
    g = torch.tensor(rng.normal(size=(3, *SHAPE)))
    t = torch.tensor([0, 4, 11])
    plain = ddpm_step(d, model, x, t, lambda z: noise)
    guided = ddpm_step(d, model, x, t, lambda z: noise, cond_fn=lambda z, ts: g)
    var = d.p_mean_variance(model, x, t).variance
    np.testing.assert_allclose((guided.sample - plain.sample).numpy(), (var * g).numpy(), rtol=1e-9, atol=1e-13)


def test_progressive_yields_every_step_and_ends_at_the_final_sample():
    d = _diffusion()
    model = ChannelMixModel(SHAPE[0], learned_variance=True)
    rng = SampleRNG.for_samples(0, range(2))
    x_T = rng.randn((2, *SHAPE))
    steps = list(ddpm_sample_loop_progressive(d, model, x_T, rng.randn_like))
    assert len(steps) == d.num_timesteps
    rng2 = SampleRNG.for_samples(0, range(2))
    x_T2 = rng2.randn((2, *SHAPE))
    assert torch.equal(steps[-1].sample, ddpm_sample_loop(d, model, x_T2, rng2.randn_like))


def test_classifier_cond_fn_matches_the_reference_closure():
    from benchmark.diffusion.guidance import classifier_cond_fn

    clf = ToyClassifier(SHAPE[0])
    x = torch.tensor(np.random.default_rng(5).normal(size=(3, *SHAPE)))
    t = torch.tensor([10, 500, 999])
    y = torch.tensor([2, 0, 3])
    ours = classifier_cond_fn(clf, 2.5)(x, t, y=y)
    reference = make_cond_fn(clf, 2.5)(x, t, y=y)
    assert torch.equal(ours, reference)
    # Finite-difference check of d/dx log p(y | x) for one coordinate.
    eps = 1e-6
    xp, xm = x.clone(), x.clone()
    xp[1, 0, 2, 3] += eps
    xm[1, 0, 2, 3] -= eps
    lp = lambda z: torch.log_softmax(clf(z, t), dim=-1)[1, y[1]].item()  # noqa: E731
    assert abs(2.5 * (lp(xp) - lp(xm)) / (2 * eps) - ours[1, 0, 2, 3].item()) < 1e-6
