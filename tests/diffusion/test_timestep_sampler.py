"""Timestep samplers: uniform weights, the loss-second-moment history, unbiased importance weights."""

from __future__ import annotations

import numpy as np
import torch

from benchmark.diffusion.timestep_sampler import LossSecondMomentResampler, UniformSampler


def test_uniform_sampler():
    s = UniformSampler(10)
    t, w = s.sample(1000, "cpu", rng=np.random.default_rng(0))
    assert t.dtype == torch.long and t.min() >= 0 and t.max() <= 9
    assert torch.equal(w, torch.ones(1000))
    counts = np.bincount(t.numpy(), minlength=10)
    assert counts.min() > 60  # ~100 each


def test_second_moment_history_and_weights():
    s = LossSecondMomentResampler(4, history_per_term=3, uniform_prob=0.2)
    history: dict[int, list[float]] = {k: [] for k in range(4)}
    rng = np.random.default_rng(1)
    for _ in range(10):
        ts = rng.integers(0, 4, size=5).tolist()
        losses = rng.uniform(0, 3, size=5).tolist()
        s.update_with_all_losses(ts, losses)
        for t, loss in zip(ts, losses):
            history[t] = (history[t] + [loss])[-3:]
        if not all(len(h) == 3 for h in history.values()):
            assert not s.warmed_up()
            np.testing.assert_array_equal(s.weights(), np.ones(4))
    # Independent weights from the last three losses of each timestep.
    rms = np.array([np.sqrt(np.mean(np.square(history[k]))) for k in range(4)])
    expected = 0.8 * rms / rms.sum() + 0.2 / 4
    assert s.warmed_up()
    np.testing.assert_allclose(s.weights(), expected, rtol=1e-12)


def test_importance_weights_are_unbiased():
    s = LossSecondMomentResampler(5, history_per_term=2, uniform_prob=0.1)
    s.update_with_local_losses(torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]),
                               torch.tensor([1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 8.0, 8.0, 0.1, 0.1]))
    f = np.array([3.0, -1.0, 0.5, 2.0, 7.0])
    t, w = s.sample(200_000, "cpu", rng=np.random.default_rng(2))
    p = s.weights() / s.weights().sum()
    np.testing.assert_allclose(w.numpy(), 1 / (5 * p[t.numpy()]), rtol=1e-6)
    estimate = (w.numpy() * f[t.numpy()]).mean()
    assert abs(estimate - f.mean()) < 0.05


def test_update_with_local_losses_through_torch_distributed(tmp_path):
    """With a (single-process gloo) process group the gather path records the same history as the local path."""
    import torch.distributed as dist

    assert not dist.is_initialized()
    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    try:
        a = LossSecondMomentResampler(3, history_per_term=2)
        a.update_with_local_losses(torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    finally:
        dist.destroy_process_group()
    b = LossSecondMomentResampler(3, history_per_term=2)
    b.update_with_all_losses([0, 1, 2, 0, 1, 2], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert a.warmed_up() and b.warmed_up()
    np.testing.assert_allclose(a.weights(), b.weights(), rtol=1e-12)
    np.testing.assert_allclose(a.loss_history, [[1, 4], [2, 5], [3, 6]])
