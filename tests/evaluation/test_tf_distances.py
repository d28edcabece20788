"""admbench's `cpu-tf` precision/recall arithmetic against TensorFlow on this CPU, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.evaluation.distances import PRArithmetic, distance_block, tf_cpu_k_slices, tf_cpu_row_sums
from benchmark.evaluation.metrics import manifold_radii, pairwise_sq_distances, precision_recall
from benchmark.perf.evaluation import inception_like_features
from tests.evaluation.tf_reference_pr import TFDistanceBlock


@pytest.fixture(scope="module")
def tf_block() -> TFDistanceBlock:
    return TFDistanceBlock()


def features(kind: str, n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "normal":  # signed, mixed magnitudes
        return (rng.standard_normal((n, dim)) * rng.uniform(0.2, 2.0, (1, dim))).astype(np.float32)
    if kind == "abs":
        return np.abs(rng.standard_normal((n, dim))).astype(np.float32) * 0.5
    if kind == "gamma":  # sparse, skewed, non-negative like Inception pool features
        return rng.gamma(0.3, 0.6, (n, dim)).astype(np.float32)
    raise ValueError(kind)


@pytest.mark.parametrize("dim", [5, 31, 128, 129, 1000, 1601, 2048, 3001])
@pytest.mark.parametrize("kind", ["abs", "gamma"])
def test_fp16_row_sums_are_tensorflows_bit_for_bit(tf_block, dim, kind):
    x = features(kind, 97, dim, seed=dim)
    ours = tf_cpu_row_sums(torch.from_numpy(x).half() ** 2).numpy()
    np.testing.assert_array_equal(ours.view(np.uint16), tf_block.fp16_row_sums_of_squares(x).view(np.uint16))


@pytest.mark.parametrize(("kind", "dim", "m", "n"), [
    ("abs", 2048, 150, 130), ("gamma", 2048, 120, 90), ("normal", 2048, 70, 64), ("gamma", 128, 200, 150),
    ("normal", 129, 60, 41), ("abs", 512, 80, 80),
])
def test_distance_blocks_are_tensorflows_bit_for_bit(tf_block, kind, dim, m, n):
    u, v = features(kind, m, dim, 1), features(kind, n, dim, 2)
    expected, fell_back = tf_block.distances(u, v)
    assert not fell_back
    ours = pairwise_sq_distances(torch.from_numpy(u), torch.from_numpy(v), PRArithmetic.CPU_TF).numpy()
    np.testing.assert_array_equal(ours.view(np.uint32), expected.view(np.uint32))
    # The bounds of the unresolved block hold TensorFlow's values.
    block = distance_block(torch.from_numpy(u), torch.from_numpy(v), PRArithmetic.CPU_TF)
    assert (block.lo <= torch.from_numpy(expected)).all() and (torch.from_numpy(expected) <= block.hi).all()
    if dim == 2048 and kind != "normal":
        # fp32-accumulate-then-round (gpu-tf) is not TensorFlow-CPU's rounding: the emulation is what matters.
        gpu = pairwise_sq_distances(torch.from_numpy(u), torch.from_numpy(v), PRArithmetic.GPU_TF).numpy()
        assert (gpu != expected).mean() > 0.01


def test_overflowing_products_give_distance_zero_as_tensorflow_does(tf_block):
    # |u|^2 fits fp16 but 2 u.v overflows: norm - inf + norm = -inf, and maximum(-inf, 0) = 0 (no fallback).
    rng = np.random.default_rng(3)
    u = (4.4 + rng.uniform(0, 0.01, (20, 2048))).astype(np.float32)
    v = np.full((15, 2048), 4.4, np.float32)
    expected, fell_back = tf_block.distances(u, v)
    assert not fell_back and (expected == 0).all()
    ours = pairwise_sq_distances(torch.from_numpy(u), torch.from_numpy(v), PRArithmetic.CPU_TF).numpy()
    np.testing.assert_array_equal(ours, expected)


def test_fp32_fallback_is_taken_for_the_same_blocks_and_gives_the_same_precision_recall(tf_block):
    # Norms above the fp16 range: the reference recomputes the block in fp32. Its fp32 GEMM's summation order is
    # not established, so the distances are compared to fp32 accuracy and the precision / recall exactly.
    ref, sample = features("abs", 300, 2048, 4) * 12, features("abs", 280, 2048, 5) * 12
    expected, fell_back = tf_block.distances(ref, sample)
    assert fell_back
    ours = pairwise_sq_distances(torch.from_numpy(ref), torch.from_numpy(sample), PRArithmetic.CPU_TF).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-5)
    assert precision_recall(ref, sample, arithmetic=PRArithmetic.CPU_TF) == tf_block.precision_recall(ref, sample)


@pytest.mark.parametrize("block", [10000, 97, 256])
@pytest.mark.parametrize("kind", ["gamma", "abs"])
def test_precision_recall_equal_the_reference_exactly(tf_block, kind, block):
    ref, sample = features(kind, 400, 2048, 6), features(kind, 360, 2048, 7) * 1.05
    expected = tf_block.precision_recall(ref, sample, batch=block)
    assert precision_recall(ref, sample, block_size=block, arithmetic=PRArithmetic.CPU_TF) == expected


def test_precision_recall_on_inception_like_features_equal_the_reference(tf_block):
    ref, sample = inception_like_features(700, seed=3)
    expected = tf_block.precision_recall(ref, sample)
    assert precision_recall(ref, sample, arithmetic=PRArithmetic.CPU_TF) == expected


def test_radii_equal_the_reference_bit_for_bit(tf_block):
    x = features("gamma", 500, 2048, 8)
    for block in (10000, 128):
        ours = manifold_radii(torch.from_numpy(x), 3, block, PRArithmetic.CPU_TF).numpy()
        np.testing.assert_array_equal(ours.view(np.uint32), tf_block.radii(x, 3, block).view(np.uint32))


def test_unestablished_widths_are_refused_with_the_alternatives():
    assert tf_cpu_k_slices(2048) == (1024, 1024) and tf_cpu_k_slices(64) == (64,)
    with pytest.raises(ValueError, match="gpu-tf or fp32"):
        distance_block(torch.zeros(3, 1000), torch.zeros(3, 1000), PRArithmetic.CPU_TF)
