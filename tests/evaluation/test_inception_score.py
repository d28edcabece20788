"""Inception Score against the formula written with scipy.stats.entropy, and closed forms."""

import numpy as np
import pytest
from scipy.stats import entropy

from benchmark.evaluation.metrics import inception_score, softmax


def independent_is(probs, split_size):
    scores = []
    for start in range(0, len(probs), split_size):
        part = probs[start : start + split_size].astype(np.float64)
        marginal = part.mean(0)
        scores.append(np.exp(np.mean([entropy(p, marginal) for p in part])))
    return float(np.mean(scores))


@pytest.mark.parametrize("n,split", [(100, 5000), (1000, 300), (250, 50)])
def test_matches_entropy_formula(n, split):
    rng = np.random.default_rng(n)
    probs = softmax(rng.standard_normal((n, 1008)).astype(np.float32) * 3)
    assert inception_score(probs, split) == pytest.approx(independent_is(probs, split), rel=1e-4)


def test_closed_forms():
    c = 10
    uniform = np.full((200, c), 1.0 / c, dtype=np.float32)
    assert inception_score(uniform) == pytest.approx(1.0, abs=1e-5)  # float32 arithmetic, as the reference
    eps = 1e-12
    onehot = np.full((200, c), eps, dtype=np.float64)
    onehot[np.arange(200), np.arange(200) % c] = 1.0
    assert inception_score(onehot) == pytest.approx(c, rel=1e-6)


def test_splits_are_contiguous_in_file_order():
    # First split all class 0, second split all class 1: each split scores 1; a shuffled split would score 2.
    c = 4
    p = np.full((10, c), 1e-12)
    p[:5, 0] = 1.0
    p[5:, 1] = 1.0
    assert inception_score(p, split_size=5) == pytest.approx(1.0, abs=1e-6)
    assert inception_score(p, split_size=10) == pytest.approx(2.0, rel=1e-6)


def test_softmax_rows_sum_to_one():
    x = np.random.default_rng(0).standard_normal((5, 1008)).astype(np.float32) * 50
    p = softmax(x)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
