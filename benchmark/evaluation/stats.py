"""Feature statistics accumulated in float64 (mean and unbiased covariance), mergeable across batches and ranks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FeatureStats:
    """Running sums for mean / covariance of D-dimensional features, all in float64.

    Sums of x and of x x^T are accumulated batch by batch (as EDM's fid.py does), so the result does not
    depend on the batch size beyond float64 rounding, and partial stats from several processes can be merged.
    """

    dim: int
    count: int = 0
    sum: np.ndarray | None = None
    sum_outer: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.sum is None:
            self.sum = np.zeros(self.dim, dtype=np.float64)
        if self.sum_outer is None:
            self.sum_outer = np.zeros((self.dim, self.dim), dtype=np.float64)

    def update(self, features: np.ndarray) -> None:
        """Add a batch of features [N, D]."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"expected features of shape [N, {self.dim}], got {x.shape}")
        self.count += x.shape[0]
        self.sum += x.sum(axis=0)
        self.sum_outer += x.T @ x

    def merge(self, other: FeatureStats) -> None:
        """Add another accumulator's sums (e.g. from another rank)."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge stats of dim {other.dim} into dim {self.dim}")
        self.count += other.count
        self.sum += other.sum
        self.sum_outer += other.sum_outer

    def mean(self) -> np.ndarray:
        """Mean feature vector (float64)."""
        if self.count < 1:
            raise ValueError("no features accumulated")
        return self.sum / self.count

    def covariance(self) -> np.ndarray:
        """Unbiased covariance (ddof=1, as np.cov(rowvar=False)), float64."""
        if self.count < 2:
            raise ValueError("covariance needs at least 2 feature vectors")
        mu = self.mean()
        cov = (self.sum_outer - self.count * np.outer(mu, mu)) / (self.count - 1)
        return (cov + cov.T) / 2  # exact symmetry for the eigendecomposition route


def mean_and_covariance(features: np.ndarray, batch_size: int = 10000) -> tuple[np.ndarray, np.ndarray]:
    """mu, sigma of features [N, D] in float64, accumulated in batches."""
    stats = FeatureStats(dim=int(features.shape[1]))
    for start in range(0, len(features), batch_size):
        stats.update(features[start : start + batch_size])
    return stats.mean(), stats.covariance()
