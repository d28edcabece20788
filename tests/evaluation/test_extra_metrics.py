"""KID, density/coverage, per-class FID and FD-infinity against straightforward numpy/scipy implementations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist

from benchmark.evaluation.extra_metrics import density_coverage, fd_infinity, fid_per_class, kid


def _plain_fid(a: np.ndarray, b: np.ndarray | None = None, mu_b=None, sigma_b=None) -> float:
    mu_a, sa = a.mean(0), np.cov(a, rowvar=False)
    if b is not None:
        mu_b, sigma_b = b.mean(0), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(sa @ sigma_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sigma_b) - 2 * np.trace(root))


def _plain_mmd(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2, pair by pair means with the diagonal masked out."""
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    off = ~np.eye(len(x), dtype=bool)
    return float(k(x, x)[off].mean() + k(y, y)[off].mean() - 2 * k(x, y).mean())


#----------------------------------------------------------------------------
# KID.

def test_kid_matches_plain_subsets() -> None:
    rng = np.random.default_rng(0)
    ref, sample = rng.normal(size=(60, 16)), rng.normal(0.3, 1.0, size=(50, 16))
    ours = kid(ref, sample, subsets=7, subset_size=20, seed=3)
    draw = np.random.RandomState(3)  # torch-fidelity's draw order: ref subset, then sample subset
    plain = []
    for _ in range(7):
        i, j = draw.choice(60, 20, replace=False), draw.choice(50, 20, replace=False)
        plain.append(_plain_mmd(ref[i], sample[j]))
    assert ours.value == pytest.approx(np.mean(plain), rel=1e-10)
    assert ours.std == pytest.approx(np.std(plain), rel=1e-8)
    assert (ours.subset_size, ours.subsets) == (20, 7)
    assert ours.value > 2 * ours.std  # a mean shift is detected


def test_kid_subset_larger_than_sets_is_capped() -> None:
    rng = np.random.default_rng(1)
    ref, sample = rng.normal(size=(12, 5)), rng.normal(size=(9, 5))
    ours = kid(ref, sample, subsets=5, subset_size=1000)
    assert ours.subset_size == 9
    # every subset of the 9 samples is all of them; the ref subsets vary
    assert kid(sample, sample[::-1], subsets=3, subset_size=50).value == pytest.approx(
        _plain_mmd(sample, sample[::-1]), abs=1e-12)


def test_kid_is_unbiased_for_equal_distributions() -> None:
    rng = np.random.default_rng(2)
    values = [kid(rng.normal(size=(40, 4)), rng.normal(size=(40, 4)), subsets=1, subset_size=40, seed=s).value
              for s in range(40)]
    assert min(values) < 0 < max(values)  # unbiased: negative estimates occur
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))


def test_kid_rejects_tiny_sets() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        kid(np.zeros((1, 3)), np.zeros((5, 3)))


#----------------------------------------------------------------------------
# Density and coverage.

def _plain_density_coverage(ref: np.ndarray, sample: np.ndarray, k: int) -> tuple[float, float]:
    rr = cdist(ref, ref)
    radius = np.array([np.sort(row)[k] for row in rr])  # index 0 is the point itself
    d = cdist(ref, sample)  # [ref, sample]
    density = sum(int(d[i, j] < radius[i]) for i in range(len(ref)) for j in range(len(sample))) / (k * len(sample))
    coverage = np.mean([d[i].min() < radius[i] for i in range(len(ref))])
    return density, float(coverage)


@pytest.mark.parametrize("block", [10000, 7])
def test_density_coverage_matches_brute_force(block: int) -> None:
    rng = np.random.default_rng(4)
    ref = rng.normal(size=(40, 6)).astype(np.float32)
    sample = np.concatenate([rng.normal(size=(20, 6)), rng.normal(0, 0.3, size=(15, 6))]).astype(np.float32)
    ours = density_coverage(ref, sample, k=5, block_size=block)
    plain = _plain_density_coverage(ref.astype(np.float64), sample.astype(np.float64), 5)
    assert ours == pytest.approx(plain, abs=1e-12)
    assert ours[0] > 1.0 and ours[1] < 1.0  # the concentrated samples raise density, not coverage


def test_density_coverage_of_a_collapsed_sample() -> None:
    rng = np.random.default_rng(5)
    ref = rng.normal(size=(30, 4)).astype(np.float32)
    density, coverage = density_coverage(ref, np.repeat(ref[:1], 10, axis=0), k=5)
    plain = _plain_density_coverage(ref.astype(np.float64), np.repeat(ref[:1], 10, axis=0).astype(np.float64), 5)
    assert (density, coverage) == pytest.approx(plain, abs=1e-12)
    assert coverage <= 6 / 30


#----------------------------------------------------------------------------
# Per-class FID.

def test_fid_per_class_with_small_and_missing_classes() -> None:
    rng = np.random.default_rng(6)
    ref = rng.normal(size=(70, 3))
    ref_labels = np.array([0] * 30 + [1] * 30 + [2] * 10)
    sample = rng.normal(0.5, 1.0, size=(62, 3))
    sample_labels = np.array([0] * 30 + [1] * 30 + [2] + [7])  # class 2: one sample; class 7: only in the samples
    out, mean = fid_per_class(ref, ref_labels, sample, sample_labels)
    assert sorted(out) == [0, 1, 2, 7]
    for c in (0, 1):
        assert out[c].fid == pytest.approx(_plain_fid(sample[sample_labels == c], ref[ref_labels == c]), rel=1e-8)
        assert (out[c].n_ref, out[c].n_sample) == (30, 30)
    assert out[2].fid is None and (out[2].n_ref, out[2].n_sample) == (10, 1)
    assert out[7].fid is None and (out[7].n_ref, out[7].n_sample) == (0, 1)
    assert mean == pytest.approx((out[0].fid + out[1].fid) / 2)


def test_fid_per_class_needs_one_label_per_feature() -> None:
    with pytest.raises(ValueError, match="one label"):
        fid_per_class(np.zeros((4, 2)), np.zeros(3), np.zeros((4, 2)), np.zeros(4))


#----------------------------------------------------------------------------
# FD-infinity.

def test_fd_infinity_matches_plain_fit() -> None:
    rng = np.random.default_rng(7)
    mu, sigma = np.zeros(4), np.eye(4)
    sample = rng.normal(0.2, 1.0, size=(200, 4))
    ours = fd_infinity(mu, sigma, sample, points=5, seed=9)
    assert ours.sizes == (40, 80, 120, 160, 200)
    draw = np.random.default_rng(9)
    fids = [_plain_fid(sample[draw.choice(200, n, replace=False)], mu_b=mu, sigma_b=sigma) for n in ours.sizes]
    design = np.stack([np.ones(5), 1.0 / np.array(ours.sizes)], axis=1)
    intercept = np.linalg.lstsq(design, np.array(fids), rcond=None)[0][0]
    assert ours.fids == pytest.approx(fids, rel=1e-8)
    assert ours.value == pytest.approx(intercept, rel=1e-8)


def test_fd_infinity_removes_the_small_sample_bias() -> None:
    rng = np.random.default_rng(8)
    mu, sigma = np.zeros(8), np.eye(8)
    sample = rng.normal(size=(2000, 8))  # the reference distribution itself: the true distance is 0
    ours = fd_infinity(mu, sigma, sample, points=8, min_size=100)
    assert ours.fids[0] > 0.05  # FID at N = 100 is biased upward
    assert abs(ours.value) < 0.25 * ours.fids[0]


def test_fd_infinity_rejects_too_few_samples() -> None:
    with pytest.raises(ValueError, match="at least 3 samples"):
        fd_infinity(np.zeros(2), np.eye(2), np.zeros((2, 2)))


def test_perf_baselines_compute_the_same_quantities() -> None:
    from benchmark.perf.evaluation import _numpy_density_coverage, _numpy_kid, inception_like_features

    ref, sample = inception_like_features(300, seed=1, dim=64)
    assert _numpy_kid(ref, sample, 4, 100) == pytest.approx(kid(ref, sample, 4, 100).value, rel=1e-9)
    assert _numpy_density_coverage(ref, sample) == pytest.approx(density_coverage(ref, sample), abs=1e-6)
