"""Parity with openai/guided-diffusion: fixtures produced by running the reference code on the toy models.

float64 fixtures come from the reference with its coefficient lookup kept in float64 (its only float32 cast);
float32 fixtures from the unmodified reference, including global-RNG sampling loops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.compat.guided_diffusion import gaussian_diffusion as gdc_gd, resample as gdc_resample, respace as gdc_respace, script_util as gdc_script
from benchmark.diffusion import DiffusionConfig, GaussianDiffusion, LossType, MeanType, Schedule, VarianceType
from benchmark.diffusion.schedules import named_betas, respaced_betas, space_timesteps

from .toy_models import CASES, SHAPE, ChannelMixModel, ToyClassifier, fixed_inputs, make_cond_fn

DATA = Path(__file__).resolve().parents[1] / "data"
F64 = np.load(DATA / "diffusion_reference_float64.npz")
F32 = np.load(DATA / "diffusion_reference_float32.npz")
SCHED = np.load(DATA / "diffusion_reference_schedules.npz")
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-6)}


def _close(ours: torch.Tensor | np.ndarray, ref: np.ndarray, dtype: torch.dtype, what: str) -> None:
    ours_np = ours.detach().numpy() if isinstance(ours, torch.Tensor) else np.asarray(ours)
    assert ours_np.shape == ref.shape, what
    np.testing.assert_allclose(ours_np, ref, err_msg=what, **TOL[dtype])


def _compat(case: dict) -> gdc_respace.SpacedDiffusion:
    betas = gdc_gd.get_named_beta_schedule(case["schedule"], case["steps"])
    return gdc_respace.SpacedDiffusion(
        gdc_respace.space_timesteps(case["steps"], case["respacing"] or [case["steps"]]),
        betas=betas,
        model_mean_type=gdc_gd.ModelMeanType[case["mean"]],
        model_var_type=gdc_gd.ModelVarType[case["var"]],
        loss_type=gdc_gd.LossType[case["loss"]],
        rescale_timesteps=case["rescale"],
    )


def _native(case: dict) -> GaussianDiffusion:
    return GaussianDiffusion.from_config(DiffusionConfig(
        steps=case["steps"], schedule=Schedule(case["schedule"]), mean_type=MeanType[case["mean"]],
        variance_type=VarianceType[case["var"]], loss_type=LossType[case["loss"]], rescale_timesteps=case["rescale"],
        timestep_respacing=case["respacing"],
    ))


#----------------------------------------------------------------------------

def test_schedules_and_respacing_match_reference():
    for name in ("linear", "cosine"):
        for steps in (1000, 100, 37):
            np.testing.assert_array_equal(named_betas(Schedule(name), steps), SCHED[f"{name}_{steps}"])
    i = 0
    while f"respace{i}_spec" in SCHED:
        steps_s, spec = str(SCHED[f"respace{i}_spec"]).split("|")
        steps = int(steps_s)
        kept = space_timesteps(steps, spec)
        np.testing.assert_array_equal(kept, SCHED[f"respace{i}_timesteps"], err_msg=spec)
        assert sorted(gdc_respace.space_timesteps(steps, spec)) == list(SCHED[f"respace{i}_timesteps"])
        ours = respaced_betas(named_betas(Schedule.COSINE, steps), kept)
        np.testing.assert_array_equal(ours, SCHED[f"respace{i}_cosine_betas"])
        i += 1
    assert i == 9


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_single_step_quantities_match_reference(name: str, dtype: torch.dtype):
    ref = F64 if dtype == torch.float64 else F32
    case = CASES[name]
    inp = fixed_inputs(dtype)
    x0, noise, y = inp["x_start"], inp["noise"], inp["y"]
    model = ChannelMixModel(SHAPE[1], case["var"] in ("LEARNED", "LEARNED_RANGE"))
    cond_fn = make_cond_fn(ToyClassifier(SHAPE[1]), 0.7)
    kw = {"y": y}
    for diff in (_compat(case), _native(case)):
        T = diff.num_timesteps
        t = torch.tensor([0, T // 2, T - 1])
        native = diff if isinstance(diff, GaussianDiffusion) else diff.native
        x_t = diff.q_sample(x0, t, noise=noise)
        _close(x_t, ref[f"{name}__q_sample"], dtype, "q_sample")
        for ours, key in zip(diff.q_mean_variance(x0, t), ("q_mean", "q_var", "q_logvar")):
            _close(ours, ref[f"{name}__{key}"], dtype, key)
        for ours, key in zip(diff.q_posterior_mean_variance(x0, x_t, t), ("post_mean", "post_var", "post_logvar")):
            _close(ours, ref[f"{name}__{key}"], dtype, key)
        for clip in (True, False):
            mv = native.p_mean_variance(model, x_t, t, clip_denoised=clip, model_kwargs=kw)
            for key in ("mean", "variance", "log_variance", "pred_xstart"):
                _close(getattr(mv, key), ref[f"{name}__pmv_clip{int(clip)}__{key}"], dtype, f"pmv {key} clip={clip}")
        mv = native.p_mean_variance(model, x_t, t, clip_denoised=False, denoised_fn=lambda z: 0.9 * z)
        for key in ("mean", "pred_xstart"):
            _close(getattr(mv, key), ref[f"{name}__pmv_denoised__{key}"], dtype, f"denoised_fn {key}")

        mv = native.p_mean_variance(model, x_t, t, model_kwargs=kw)
        if dtype == torch.float32:
            _close(native.condition_mean(cond_fn, mv, x_t, t, kw), ref[f"{name}__cond_mean"], dtype, "condition_mean")
        scored = native.condition_score(cond_fn, mv, x_t, t, kw)
        for key in ("mean", "pred_xstart", "variance"):
            _close(getattr(scored, key), ref[f"{name}__cond_score__{key}"], dtype, f"condition_score {key}")

        terms = diff.training_losses(model, x0, t, model_kwargs=kw, noise=noise)
        ref_keys = sorted(k.split("__")[-1] for k in ref.files if k.startswith(f"{name}__losses__"))
        assert sorted(terms) == ref_keys
        for key in ref_keys:
            _close(terms[key], ref[f"{name}__losses__{key}"], dtype, f"training loss {key}")

    # The compat methods draw from the global RNG in the reference's order.
    diff = _compat(case)
    T = diff.num_timesteps
    t = torch.tensor([0, T // 2, T - 1])
    x_t = diff.q_sample(x0, t, noise=noise)
    torch.manual_seed(11)
    out = diff.p_sample(model, x_t, t, model_kwargs=kw)
    for key in ("sample", "pred_xstart"):
        _close(out[key], ref[f"{name}__p_sample__{key}"], dtype, f"p_sample {key}")
    torch.manual_seed(12)
    out = diff.p_sample(model, x_t, t, cond_fn=cond_fn, model_kwargs=kw)
    # The reference's condition_mean casts to float32, so this value is float32-accurate even in float64.
    _close(out["sample"], ref[f"{name}__p_sample_guided__sample"], torch.float32, "guided p_sample")
    for eta in (0.0, 0.6):
        torch.manual_seed(13)
        out = diff.ddim_sample(model, x_t, t, cond_fn=cond_fn, model_kwargs=kw, eta=eta)
        for key in ("sample", "pred_xstart"):
            _close(out[key], ref[f"{name}__ddim_eta{eta}__{key}"], dtype, f"ddim eta={eta} {key}")
    out = diff.ddim_reverse_sample(model, x_t, torch.tensor([0, T // 2, T - 2]), model_kwargs=kw)
    _close(out["sample"], ref[f"{name}__ddim_reverse__sample"], dtype, "ddim_reverse_sample")
    if f"{name}__bpd__total_bpd" in ref:
        torch.manual_seed(14)
        bpd = diff.calc_bpd_loop(model, x0, model_kwargs=kw)
        for key in ("total_bpd", "prior_bpd", "vb", "xstart_mse", "mse"):
            _close(bpd[key], ref[f"{name}__bpd__{key}"], dtype, f"calc_bpd_loop {key}")


@pytest.mark.parametrize("name", ["A", "B", "D"])
def test_sampling_loops_match_reference_with_global_seed(name: str):
    case = CASES[name]
    diff = _compat(case)
    model = ChannelMixModel(SHAPE[1], case["var"] in ("LEARNED", "LEARNED_RANGE"))
    y = fixed_inputs(torch.float32)["y"]
    for scale in (0.0, 2.0):
        cond_fn = make_cond_fn(ToyClassifier(SHAPE[1]), scale) if scale else None
        torch.manual_seed(21)
        out = diff.p_sample_loop(model, SHAPE, cond_fn=cond_fn, model_kwargs={"y": y}, device="cpu")
        _close(out, F32[f"{name}__loop_ddpm_s{scale}"], torch.float32, f"p_sample_loop s={scale}")
        for eta in (0.0, 1.0):
            torch.manual_seed(22)
            out = diff.ddim_sample_loop(model, SHAPE, cond_fn=cond_fn, model_kwargs={"y": y}, device="cpu", eta=eta)
            key = f"{name}__loop_ddim_eta{eta}_s{scale}"
            _close(out, F32[key], torch.float32, f"ddim_sample_loop eta={eta} s={scale}")
    # Same number of global draws as the reference: the RNG continues identically.
    np.testing.assert_array_equal(torch.randn(4).numpy(), F32[f"{name}__rng_after_ddim"])


def test_create_gaussian_diffusion_flags_match_reference():
    flags = [dict(), dict(learn_sigma=True), dict(sigma_small=True, noise_schedule="cosine", steps=200),
             dict(use_kl=True, predict_xstart=True, timestep_respacing="ddim10", steps=100),
             dict(rescale_learned_sigmas=True, learn_sigma=True, rescale_timesteps=True, timestep_respacing="25",
                  steps=100)]
    for i, f in enumerate(flags):
        d = gdc_script.create_gaussian_diffusion(**f)
        np.testing.assert_array_equal(d.betas, F32[f"flags{i}__betas"])
        assert list(d.timestep_map) == F32[f"flags{i}__map"].tolist()
        assert [d.model_mean_type.name, d.model_var_type.name, d.loss_type.name] == F32[f"flags{i}__types"].tolist()
        assert d.rescale_timesteps == bool(F32[f"flags{i}__rescale"])


def test_loss_second_moment_resampler_matches_reference():
    diff = _compat(CASES["A"])
    s = gdc_resample.LossSecondMomentResampler(diff, history_per_term=3, uniform_prob=0.01)
    rng = np.random.default_rng(5)
    for _ in range(6):
        ts = rng.integers(0, diff.num_timesteps, size=7)
        s.update_with_all_losses(ts.tolist(), rng.uniform(0.1, 2, size=7).tolist())
    np.testing.assert_allclose(s.weights(), F32["resample__weights_partial"], rtol=1e-12)
    for k in range(diff.num_timesteps):
        s.update_with_all_losses([k] * 4, (np.arange(4) + k + 0.5).tolist())
    np.testing.assert_allclose(s.weights(), F32["resample__weights_full"], rtol=1e-12)
    np.random.seed(3)
    ts, w = s.sample(9, "cpu")
    np.testing.assert_array_equal(ts.numpy(), F32["resample__sample_t"])
    np.testing.assert_allclose(w.numpy(), F32["resample__sample_w"], rtol=1e-6)
