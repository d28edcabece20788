"""FID: the eigh route against scipy's sqrtm formula and closed forms."""

import numpy as np
import pytest
from scipy import linalg

from benchmark.evaluation.metrics import frechet_distance
from benchmark.evaluation.stats import FeatureStats, mean_and_covariance


def sqrtm_fid(mu1, s1, mu2, s2):
    """Independent reference: the TTUR / guided-diffusion formula with scipy.linalg.sqrtm."""
    covmean = linalg.sqrtm(s1 @ s2)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def random_stats(n, dim, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)) @ rng.standard_normal((dim, dim)) / np.sqrt(dim) * scale
    x += rng.standard_normal(dim)
    return x.mean(0), np.cov(x, rowvar=False)


@pytest.mark.parametrize("dim", [2, 16, 128, 512])
def test_matches_sqrtm_full_rank(dim):
    mu1, s1 = random_stats(4 * dim + 10, dim, 1)
    mu2, s2 = random_stats(4 * dim + 10, dim, 2, scale=1.3)
    ours = frechet_distance(mu1, s1, mu2, s2)
    ref = sqrtm_fid(mu1, s1, mu2, s2)
    assert ours == pytest.approx(ref, rel=1e-6)


def test_rank_deficient_is_finite_and_matches_eigenvalue_reference():
    # Fewer samples than dimensions: both covariances are singular.
    dim = 256
    mu1, s1 = random_stats(100, dim, 3)
    mu2, s2 = random_stats(80, dim, 4)
    ours = frechet_distance(mu1, s1, mu2, s2)
    # Independent route: eigenvalues of the (non-symmetric) product, in extended precision via numpy eig.
    ev = np.linalg.eigvals(s1 @ s2)
    tr = np.sum(np.sqrt(np.clip(ev.real, 0, None)))
    d = mu1 - mu2
    expected = d @ d + np.trace(s1) + np.trace(s2) - 2 * tr
    assert np.isfinite(ours)
    assert ours == pytest.approx(expected, rel=1e-6)


def test_cholesky_and_eigh_routes_agree():
    from benchmark.evaluation.metrics import trace_sqrt_product

    _, s1 = random_stats(700, 300, 11)
    _, s2 = random_stats(700, 300, 12)
    a = trace_sqrt_product(s1, s2, method="cholesky")
    b = trace_sqrt_product(s1, s2, method="eigh")
    assert a == pytest.approx(b, rel=1e-10)
    _, singular = random_stats(50, 300, 13)
    with pytest.raises(ValueError, match="positive definite"):
        trace_sqrt_product(singular, s2, method="cholesky")
    assert trace_sqrt_product(singular, s2) == pytest.approx(trace_sqrt_product(singular, s2, method="eigh"), rel=1e-12)


def test_closed_forms():
    rng = np.random.default_rng(0)
    dim = 64
    a = rng.standard_normal((dim, dim))
    sigma = a @ a.T + np.eye(dim)
    mu1, mu2 = rng.standard_normal(dim), rng.standard_normal(dim)
    # Equal covariances: FID = ||mu1 - mu2||^2.
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(np.sum((mu1 - mu2) ** 2), rel=1e-9, abs=1e-8)
    # Same statistics: zero.
    assert abs(frechet_distance(mu1, sigma, mu1, sigma)) < 1e-8
    # Diagonal covariances: sum (sqrt(a) - sqrt(b))^2 + ||dmu||^2.
    da, db = rng.uniform(0.1, 3, dim), rng.uniform(0.1, 3, dim)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(da) - np.sqrt(db)) ** 2)
    assert frechet_distance(mu1, np.diag(da), mu2, np.diag(db)) == pytest.approx(expected, rel=1e-10)


def test_bad_statistics_raise():
    mu, s = random_stats(50, 8, 0)
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(mu, s * np.nan, mu, s)
    with pytest.raises(ValueError, match="dimensions"):
        frechet_distance(mu, s, mu[:4], s[:4, :4])
    with pytest.raises(ValueError, match="do not match"):
        frechet_distance(mu, s[:4, :4], mu, s)


def test_feature_stats_match_numpy_and_are_batch_independent():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((1001, 33)) * 3 + 7).astype(np.float32)
    mu_ref, cov_ref = x.astype(np.float64).mean(0), np.cov(x.astype(np.float64), rowvar=False)
    for bs in (1, 7, 1000, 5000):
        mu, cov = mean_and_covariance(x, batch_size=bs)
        np.testing.assert_allclose(mu, mu_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(cov, cov_ref, rtol=1e-9, atol=1e-10)
    a, b = FeatureStats(33), FeatureStats(33)
    a.update(x[:500])
    b.update(x[500:])
    a.merge(b)
    np.testing.assert_allclose(a.covariance(), cov_ref, rtol=1e-9, atol=1e-10)
    assert a.mean().dtype == np.float64
