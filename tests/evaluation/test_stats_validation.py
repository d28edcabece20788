"""Statistics that cannot give a Frechet distance are refused; FID's round-off below zero reads as 0."""

import numpy as np
import pytest

from benchmark.evaluation.metrics import frechet_distance
from benchmark.evaluation.stats import mean_and_covariance


def stats(n, dim, seed):
    x = np.random.default_rng(seed).standard_normal((n, dim)) * np.linspace(0.2, 3.0, dim)
    return mean_and_covariance(x)


@pytest.mark.parametrize("dim,n", [(64, 20), (256, 60), (512, 100)])
def test_identical_statistics_give_exactly_zero(dim, n):
    # Rank-deficient covariances: the eigh route's round-off lands slightly below zero without the clamp.
    mu, sigma = stats(n, dim, 1)
    assert frechet_distance(mu, sigma, mu, sigma) == 0.0


def _indefinite(dim):
    """Symmetric, positive diagonal, one eigenvalue -1: only an eigenvalue check finds it."""
    u = np.full(dim, 1 / np.sqrt(dim))
    return np.eye(dim) - 2 * np.outer(u, u)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda s: -s, "variance"),  # negative definite: FID -20 before
        (lambda s: s + np.triu(np.full_like(s, 0.3 * np.abs(s).max()), 1), "not symmetric"),
        (lambda s: s / np.abs(s).max() * 1e308, "overflow"),
        (lambda s: s / np.abs(s).max() * 1e120, "overflow"),
    ],
)
def test_invalid_covariances_raise(make, message):
    mu, sigma = stats(100, 32, 3)
    with pytest.raises(ValueError, match=message):
        frechet_distance(mu, make(sigma), mu + 1, sigma)
    with pytest.raises(ValueError, match=message):
        frechet_distance(mu, sigma, mu + 1, make(sigma))


def test_real_negative_distance_is_an_error():
    # Passes the cheap checks (symmetric, positive diagonal) but is indefinite: the distance is truly negative.
    dim = 32
    sigma = _indefinite(dim) * 5
    with pytest.raises(ValueError, match="not positive semi-definite"):
        frechet_distance(np.zeros(dim), sigma, np.zeros(dim), sigma)


def test_overflowing_mean_raises():
    mu, sigma = stats(100, 32, 3)
    with pytest.raises(ValueError, match="overflow"):
        frechet_distance(mu * 0 + 1e200, sigma, mu, sigma)
