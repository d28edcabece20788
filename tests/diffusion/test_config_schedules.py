"""DiffusionConfig validation and round trip; schedules and respacing against independent formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmark.diffusion import DiffusionConfig, GaussianDiffusion, LossType, Schedule, VarianceType
from benchmark.diffusion.respacing import Respacing, RespacingKind
from benchmark.diffusion.schedules import cosine_betas, linear_betas, respaced_betas, space_timesteps
from benchmark.errors import InputError


def test_config_round_trip_and_unknown_keys():
    cfg = DiffusionConfig(steps=4000, schedule=Schedule.COSINE, variance_type=VarianceType.FIXED_SMALL,
                          loss_type=LossType.RESCALED_MSE, lambda_vlb=0.002, timestep_respacing="ddim50")
    data = cfg.to_dict()
    assert data["schedule"] == "cosine" and data["timestep_respacing"] == "ddim50"
    assert DiffusionConfig.from_dict(data) == cfg
    with pytest.raises(InputError, match="'stpes'"):
        DiffusionConfig.from_dict({"stpes": 10}, path="run.json")
    with pytest.raises(InputError, match="run.json"):
        DiffusionConfig.from_dict({"schedule": "quadratic"}, path="run.json")
    for bad in (dict(steps=0), dict(steps=True), dict(lambda_vlb=-1.0), dict(timestep_respacing="ddim7x"),
                dict(steps=10, timestep_respacing="11"), dict(schedule="linear")):
        with pytest.raises(InputError):
            DiffusionConfig(**bad)


def test_kept_timesteps_of_config():
    assert DiffusionConfig(steps=10).kept_timesteps() == tuple(range(10))
    assert DiffusionConfig(steps=1000, timestep_respacing="ddim25").kept_timesteps() == tuple(range(0, 1000, 40))


def test_linear_schedule():
    betas = linear_betas(1000)
    assert betas.dtype == np.float64 and betas[0] == pytest.approx(1e-4) and betas[-1] == pytest.approx(0.02)
    np.testing.assert_allclose(np.diff(betas), (0.02 - 1e-4) / 999, rtol=1e-9)
    # Other step counts keep the shape: beta scaled by 1000 / T.
    np.testing.assert_allclose(linear_betas(250)[[0, -1]], [4e-4, 0.08], rtol=1e-12)


def test_cosine_schedule_reproduces_alpha_bar():
    steps = 1000
    betas = cosine_betas(steps)
    f = lambda t: math.cos((t / steps + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    abar = np.cumprod(1 - betas)
    expected = np.array([f(i + 1) / f(0) for i in range(steps)])
    unclipped = betas < 0.999
    assert unclipped[:-1].all() and betas[-1] == 0.999  # only the last beta is capped
    np.testing.assert_allclose(abar[:-1], expected[:-1], rtol=1e-9)


def test_respacing_strings():
    assert space_timesteps(1000, "ddim25") == tuple(range(0, 1000, 40))
    kept = space_timesteps(1000, "250")
    assert len(kept) == 250 and kept[0] == 0 and kept[-1] == 999
    kept = space_timesteps(1000, "90,60,60,20,20")
    assert len(kept) == 250
    assert sum(k < 200 for k in kept) == 90 and sum(800 <= k for k in kept) == 20
    assert space_timesteps(10, "3,2") == (0, 2, 4, 5, 9)  # sections [0..4] -> 0,2,4 and [5..9] -> 5,9
    for bad in ("ddim999", "2000", "10,abc", "", "-3", "0", "ddim"):
        with pytest.raises(InputError):
            space_timesteps(1000, bad)


@pytest.mark.parametrize("schedule", list(Schedule))
def test_respaced_betas_product_identity(schedule: Schedule):
    cfg = DiffusionConfig(steps=1000, schedule=schedule, timestep_respacing="90,60,60,20,20")
    d = GaussianDiffusion.from_config(cfg)
    kept = list(cfg.kept_timesteps())
    base = linear_betas(1000) if schedule is Schedule.LINEAR else cosine_betas(1000)
    np.testing.assert_allclose(d.alphas_cumprod, np.cumprod(1 - base)[kept], rtol=1e-10)
    assert d.num_timesteps == 250 and list(d.timestep_map) == kept
    np.testing.assert_allclose(respaced_betas(base, range(1000)), base, rtol=1e-12)  # keeping all steps is a no-op
    with pytest.raises(InputError):
        respaced_betas(base, [3, 3])


def test_respacing_is_parsed_once_into_a_typed_value():
    cases = {
        "": (RespacingKind.ALL, (), None),
        "250": (RespacingKind.SECTIONS, (250,), 250),
        "90,60,60,20,20": (RespacingKind.SECTIONS, (90, 60, 60, 20, 20), 250),
        "ddim25": (RespacingKind.DDIM, (25,), 25),
    }
    for text, (kind, counts, count) in cases.items():
        r = Respacing.parse(text)
        assert (r.kind, r.counts, r.count) == (kind, counts, count)
        assert str(r) == text and Respacing.parse(str(r)) == r
    assert Respacing.parse("").timesteps(10) == tuple(range(10))
    assert Respacing.parse("ddim25").timesteps(1000) == tuple(range(0, 1000, 40))
    assert Respacing.parse("3,2").timesteps(10) == (0, 2, 4, 5, 9)
    # The process and the reference function read the same value.
    assert DiffusionConfig(steps=10, timestep_respacing="3,2").respacing == Respacing.parse("3,2")
    assert DiffusionConfig(steps=10).respaced(Respacing.parse("3,2")).kept_timesteps() == (0, 2, 4, 5, 9)
    for bad in ("fast", "ddim", "10,abc", "-3", "2,,3", "ddim-5"):
        with pytest.raises(InputError, match="respacing"):
            Respacing.parse(bad)
    with pytest.raises(InputError, match="cannot take exactly 7 DDIM steps of 10"):
        Respacing.parse("ddim7").timesteps(10)  # syntax alone is not enough: the kept steps must fit the process
