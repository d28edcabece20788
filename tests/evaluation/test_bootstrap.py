"""Bootstrap replicates of every metric against brute-force numpy re-implementations on small feature sets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from benchmark.evaluation.bootstrap import BootstrapInputs, BootstrapSettings, bootstrap_metrics, resample_indices
from benchmark.evaluation.distances import PRArithmetic
from benchmark.evaluation.metrics import coverage_matrix, precision_recall, softmax

K = 3


def _sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a[:, None, :].astype(np.float64) - b[None, :, :]) ** 2).sum(-1)


def _radii(x: np.ndarray) -> np.ndarray:
    return np.sort(_sq(x, x), axis=1)[:, K]  # index 0 is the point itself


def _fid(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> float:
    m, s = x.mean(0), np.cov(x, rowvar=False)
    covmean = linalg.sqrtm(s @ sigma).real
    return float(((m - mu) ** 2).sum() + np.trace(s) + np.trace(sigma) - 2 * np.trace(covmean))


def _is(p: np.ndarray) -> float:
    marginal = p.mean(0, keepdims=True)
    return float(np.exp((p * (np.log(p) - np.log(marginal))).sum(1).mean()))


@pytest.fixture()
def feats():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(60, 5)).astype(np.float32)
    sample = (rng.normal(size=(40, 5)) * 1.2 + 0.3).astype(np.float32)
    logits = rng.normal(size=(40, 4)).astype(np.float32) * 2
    labels = rng.integers(0, 4, 40)
    return ref, sample, logits, labels


def test_coverage_matrix_is_the_definition_and_agrees_with_precision_recall(feats):
    ref, sample, _, _ = feats
    flags, cover = coverage_matrix(ref, sample, k=K, arithmetic=PRArithmetic.FP32)
    d = _sq(ref, sample)
    assert np.array_equal(cover, d <= _radii(sample)[None, :])
    assert np.array_equal(flags, (d <= _radii(ref)[:, None]).any(0))
    p, r = precision_recall(ref, sample, k=K, arithmetic=PRArithmetic.FP32)
    assert flags.mean() == pytest.approx(p) and cover.any(1).mean() == pytest.approx(r)


def test_replicates_are_each_metric_of_the_resampled_set(feats):
    ref, sample, logits, labels = feats
    flags, cover = coverage_matrix(ref, sample, k=K, arithmetic=PRArithmetic.FP32)
    mu, sigma = ref.mean(0).astype(np.float64), np.cov(ref.astype(np.float64), rowvar=False)
    probs = softmax(logits)
    correct = probs.argmax(1) == labels
    recall = float(cover.any(1).mean())
    fid = _fid(sample.astype(np.float64), mu, sigma)
    settings = BootstrapSettings(resamples=30, seed=4)
    result = bootstrap_metrics(BootstrapInputs(sample, mu, sigma, probs, 5000, flags, cover, fid, recall, correct),
                               settings)  # fmt: skip
    idx = resample_indices(len(sample), settings)
    assert idx.shape == (30, 40)
    reps = result.replicates
    s64 = sample.astype(np.float64)
    raw_fid = np.array([_fid(s64[i], mu, sigma) for i in idx])
    assert reps["fid"] == pytest.approx(raw_fid - raw_fid.mean() + fid, rel=1e-6, abs=1e-8)
    assert raw_fid.mean() > fid  # the resampling bias the centring removes
    assert reps["inception_score"] == pytest.approx([_is(probs[i].astype(np.float64)) for i in idx], rel=1e-5)
    assert reps["precision"] == pytest.approx([flags[i].mean() for i in idx])
    assert reps["label_accuracy"] == pytest.approx([correct[i].mean() for i in idx])
    raw = np.array([cover[:, np.unique(i)].any(1).mean() for i in idx])
    assert reps["recall"] == pytest.approx(raw - raw.mean() + recall)
    for name, values in reps.items():
        lo, hi = result.intervals[name]
        assert (lo, hi) == pytest.approx(tuple(np.quantile(values, [0.025, 0.975])))
    as_dict = result.to_dict()
    assert as_dict["num_samples"] == 40 and as_dict["seed"] == 4 and len(as_dict["replicates"]["fid"]) == 30


def test_the_same_seed_and_size_draw_the_same_indices_for_every_archive():
    a = resample_indices(50, BootstrapSettings(10, seed=0))
    assert np.array_equal(a, resample_indices(50, BootstrapSettings(10, seed=0)))
    assert not np.array_equal(a, resample_indices(50, BootstrapSettings(10, seed=1)))
    # One resample at a time from the same generator gives the same rows (so loops and batches agree).
    rng = np.random.default_rng(0)
    assert np.array_equal(a, np.stack([rng.integers(0, 50, size=50) for _ in range(10)]))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="resamples"):
        BootstrapSettings(0)
    with pytest.raises(ValueError, match="confidence"):
        BootstrapSettings(10, confidence=1.0)
