"""Precision / recall against brute-force numpy implementations (fp32 exact and the reference's fp16 arithmetic)."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from benchmark.evaluation.distances import PRArithmetic
from benchmark.evaluation.metrics import pairwise_sq_distances, precision_recall


def brute_force_pr(ref, sample, k=3, dist=None):
    """k-NN precision/recall, written directly from the paper's definition."""
    dist = dist or (lambda a, b: cdist(a.astype(np.float64), b.astype(np.float64), "sqeuclidean"))
    r_ref = np.sort(dist(ref, ref), axis=1)[:, k]
    r_sam = np.sort(dist(sample, sample), axis=1)[:, k]
    d = dist(ref, sample)
    precision = np.mean([(d[:, j] <= r_ref).any() for j in range(len(sample))])
    recall = np.mean([(d[i, :] <= r_sam).any() for i in range(len(ref))])
    return precision, recall


def numpy_fp16_distances(u, v):
    """The reference's DistanceBlock arithmetic written with numpy float16 scalars' rounding."""
    u16, v16 = u.astype(np.float16), v.astype(np.float16)
    sq_u = (u16.astype(np.float32) ** 2).astype(np.float16).astype(np.float32)
    sq_v = (v16.astype(np.float32) ** 2).astype(np.float16).astype(np.float32)
    nu = sq_u.sum(1).astype(np.float16)
    nv = sq_v.sum(1).astype(np.float16)
    prod = (u16.astype(np.float32) @ v16.astype(np.float32).T).astype(np.float16)
    two_prod = (prod.astype(np.float32) * 2).astype(np.float16)
    d = (nu[:, None].astype(np.float32) - two_prod.astype(np.float32)).astype(np.float16)
    d = (d.astype(np.float32) + nv[None, :].astype(np.float32)).astype(np.float16)
    if not np.isfinite(d).all():
        d32 = (u * u).sum(1)[:, None] - 2 * u @ v.T + (v * v).sum(1)[None, :]
        return np.maximum(d32, 0).astype(np.float32)
    return np.maximum(d.astype(np.float32), 0)


def features(n, seed, shift=0.0, dim=64):
    rng = np.random.default_rng(seed)
    proj = np.random.default_rng(99).standard_normal((8, dim)) / np.sqrt(8)
    z = rng.standard_normal((n, 8)) + shift
    return np.maximum(z @ proj, 0).astype(np.float32)


def test_exact_fp32_mode_matches_brute_force():
    ref, sample = features(300, 1), features(250, 2, shift=0.3)
    ours = precision_recall(ref, sample, arithmetic=PRArithmetic.FP32)
    assert ours == pytest.approx(brute_force_pr(ref, sample), abs=1e-9)


def test_default_mode_matches_fp16_reference_arithmetic():
    ref, sample = features(300, 3) * 3, features(280, 4, shift=0.2) * 3
    ours = precision_recall(ref, sample)
    expected = brute_force_pr(ref, sample, dist=numpy_fp16_distances)
    assert ours == pytest.approx(expected, abs=1e-9)


def test_fp16_distances_match_numpy_emulation_and_fallback():
    rng = np.random.default_rng(0)
    u = np.abs(rng.standard_normal((40, 2048))).astype(np.float32)
    v = np.abs(rng.standard_normal((30, 2048))).astype(np.float32)
    ours = pairwise_sq_distances(torch.from_numpy(u), torch.from_numpy(v)).numpy()
    np.testing.assert_array_equal(ours, numpy_fp16_distances(u, v))
    # Norms above the fp16 range overflow: the whole block falls back to fp32.
    big_u, big_v = u * 20, v * 20
    ours_big = pairwise_sq_distances(torch.from_numpy(big_u), torch.from_numpy(big_v)).numpy()
    exact = cdist(big_u.astype(np.float64), big_v.astype(np.float64), "sqeuclidean")
    np.testing.assert_allclose(ours_big, exact, rtol=1e-3)


def test_fp16_and_fp32_agree_on_inception_like_features():
    from benchmark.perf.evaluation import inception_like_features

    ref, sample = inception_like_features(1500, seed=1)
    p16 = precision_recall(ref, sample)
    p32 = precision_recall(ref, sample, arithmetic=PRArithmetic.FP32)
    assert p16 == pytest.approx(p32, abs=5e-3)


def test_block_size_independence():
    ref, sample = features(203, 5), features(157, 6, shift=0.4)
    full = precision_recall(ref, sample, block_size=10000)
    for bs in (1, 7, 64, 200):
        assert precision_recall(ref, sample, block_size=bs) == full


def test_mode_collapse_convention():
    # Samples collapsed onto a few reference points: all are realistic (high precision), diversity is lost (low recall).
    ref = features(400, 7)
    rng = np.random.default_rng(8)
    modes = ref[rng.choice(len(ref), 4, replace=False)]
    sample = np.repeat(modes, 100, axis=0) + rng.normal(0, 1e-4, (400, ref.shape[1])).astype(np.float32)
    precision, recall = precision_recall(ref, sample)
    assert precision > 0.95
    assert recall < 0.1


def test_identical_sets_have_full_precision_and_recall():
    x = features(100, 9)
    assert precision_recall(x, x) == (1.0, 1.0)


def test_needs_k_plus_one_points():
    with pytest.raises(ValueError, match="at least 4"):
        precision_recall(features(3, 1), features(10, 2))
