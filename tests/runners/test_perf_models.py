"""`perf --section models` times the step `admbench train` runs: ours with the run's settings, the baseline with
guided-diffusion's defaults on the same network and data (no timing here)."""

from __future__ import annotations

import pytest

from benchmark.models.config import Precision
from benchmark.perf import models as perf_models
from runners.config import OptimizerImpl, run_config_from_dict
from runners.trainloop import TrainStep

from tests.runners.conftest import tiny_run_dict

pytestmark = pytest.mark.usefixtures("one_thread")


def test_cases_use_the_presets_settings_and_the_baseline_the_reference_defaults(tmp_path):
    import torch

    cases = perf_models._cases(True, tmp_path, torch.device("cpu"))
    assert {c.config.unet.image_size for c in cases} == {16, 128}
    small = cases[0].config
    assert small.train.precision is Precision.BF16 and small.train.optimizer is OptimizerImpl.FOREACH
    base = perf_models._baseline(small)
    assert (base.train.precision, base.train.optimizer, base.train.channels_last) == (
        Precision.FP32, OptimizerImpl.FOR_LOOP, False)  # fmt: skip
    assert base.unet == small.unet and base.train.batch_size == small.train.batch_size


def test_the_timed_step_is_the_training_step(tiny_npz, monkeypatch):
    import torch

    calls = []
    real = TrainStep.__call__

    def spy(self, batch):
        calls.append(batch.step)
        return real(self, batch)

    monkeypatch.setattr(TrainStep, "__call__", spy)
    config = run_config_from_dict(tiny_run_dict(tiny_npz, precision="bf16"))
    cpu = torch.device("cpu")
    for cfg, attention in ((config, "sdpa"), (perf_models._baseline(config), "naive")):
        step = perf_models._train_step(cfg, attention, cpu)
        step()
        step()
    assert calls == [0, 1, 0, 1]
    perf_models._forward(config.unet, 2, "sdpa", Precision.BF16, cpu)()
