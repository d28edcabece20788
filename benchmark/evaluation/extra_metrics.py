"""Metrics beyond the paper's five, from the same features: KID, density/coverage, per-class FID, FD-infinity.

- KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged
  over random subsets (torch-fidelity's convention: `subsets` draws of `subset_size` rows without replacement from
  each set, numpy RandomState(seed), mean and population standard deviation of the subset estimates).
- Density and coverage (Naeem et al. 2020, k = 5): Euclidean k-NN balls around the reference features (self
  excluded); density = sum over samples of the number of reference balls containing them / (k * n_samples),
  coverage = fraction of reference balls containing at least one sample; strict `<` as in the authors' code.
- Per-class FID: FID between the samples and the reference features of each label.
- FD-infinity (Chong & Forsyth 2020): FID of random sample subsets of several sizes N against the full reference
  statistics, fitted linearly in 1/N and extrapolated to 1/N = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from benchmark.evaluation.distances import PRArithmetic
from benchmark.evaluation.metrics import frechet_distance, manifold_radii, pairwise_sq_distances

#----------------------------------------------------------------------------
# KID.


@dataclass(frozen=True)
class KID:
    value: float  # mean of the subset estimates
    std: float  # their standard deviation (ddof 0)
    subset_size: int  # after capping at the smaller set
    subsets: int


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 of two equal-size sets under the cubic polynomial kernel (float64)."""
    m, d = x.shape
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    within = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2 * kxy.sum() / (m * m))


def kid(ref_features: np.ndarray, sample_features: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 2020, device: str | torch.device = "cpu") -> KID:
    """Kernel inception distance; `subset_size` is capped at the smaller set (which must have >= 2 rows)."""
    ref, sample = np.asarray(ref_features), np.asarray(sample_features)
    if ref.ndim != 2 or sample.ndim != 2 or ref.shape[1] != sample.shape[1]:
        raise ValueError(f"feature arrays must be [N, D] with equal D, got {ref.shape} and {sample.shape}")
    if subsets < 1 or subset_size < 2:
        raise ValueError("KID needs subsets >= 1 and subset_size >= 2")
    m = min(subset_size, len(ref), len(sample))
    if m < 2:
        raise ValueError(f"KID needs at least 2 features in each set, got {len(ref)} and {len(sample)}")
    rng = np.random.RandomState(seed)
    r = torch.as_tensor(np.ascontiguousarray(ref, dtype=np.float64), device=device)
    s = torch.as_tensor(np.ascontiguousarray(sample, dtype=np.float64), device=device)
    values = []
    for _ in range(subsets):
        i = torch.as_tensor(rng.choice(len(ref), m, replace=False), device=device)
        j = torch.as_tensor(rng.choice(len(sample), m, replace=False), device=device)
        values.append(_mmd2_unbiased(r[i], s[j]))
    return KID(value=float(np.mean(values)), std=float(np.std(values)), subset_size=m, subsets=subsets)


#----------------------------------------------------------------------------
# Density and coverage.


def density_coverage(ref_features: np.ndarray, sample_features: np.ndarray, k: int = 5, block_size: int = 10000,
                     device: str | torch.device = "cpu") -> tuple[float, float]:
    """(density, coverage) with k-NN balls around the reference features; blocked, O(block_size^2) memory."""
    ref = torch.as_tensor(np.asarray(ref_features, dtype=np.float32), device=device)
    sample = torch.as_tensor(np.asarray(sample_features, dtype=np.float32), device=device)
    if ref.ndim != 2 or sample.ndim != 2 or ref.shape[1] != sample.shape[1] or len(sample) == 0:
        raise ValueError(f"feature arrays must be non-empty [N, D] with equal D, got {tuple(ref.shape)} and "
                         f"{tuple(sample.shape)}")
    radii = manifold_radii(ref, k, block_size, PRArithmetic.FP32)  # squared; same order as the distances
    inside = torch.zeros((), dtype=torch.float64, device=ref.device)
    covered = torch.zeros(len(ref), dtype=torch.bool, device=ref.device)
    for r0 in range(0, len(ref), block_size):
        r1 = r0 + block_size
        for c0 in range(0, len(sample), block_size):
            hit = pairwise_sq_distances(ref[r0:r1], sample[c0 : c0 + block_size], PRArithmetic.FP32) < radii[r0:r1, None]
            inside += hit.sum(dtype=torch.float64)
            covered[r0:r1] |= hit.any(dim=1)
    return float(inside) / (k * len(sample)), float(covered.double().mean())


#----------------------------------------------------------------------------
# Per-class FID and FD-infinity.


def _stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, dtype=np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


@dataclass(frozen=True)
class ClassFID:
    fid: float | None  # None when either set has fewer than 2 features of this label (no covariance)
    n_ref: int
    n_sample: int


def fid_per_class(ref_features: np.ndarray, ref_labels: np.ndarray, sample_features: np.ndarray,
                  sample_labels: np.ndarray) -> tuple[dict[int, ClassFID], float | None]:
    """FID per label over the labels of either set, and the mean over the labels where it is defined."""
    ref_labels, sample_labels = np.asarray(ref_labels).reshape(-1), np.asarray(sample_labels).reshape(-1)
    if len(ref_labels) != len(ref_features) or len(sample_labels) != len(sample_features):
        raise ValueError("each feature needs exactly one label")
    out: dict[int, ClassFID] = {}
    for label in np.union1d(ref_labels, sample_labels).tolist():
        a, b = ref_features[ref_labels == label], sample_features[sample_labels == label]
        value = None
        if len(a) >= 2 and len(b) >= 2:
            value = frechet_distance(*_stats(b), *_stats(a))
        out[int(label)] = ClassFID(fid=value, n_ref=len(a), n_sample=len(b))
    defined = [c.fid for c in out.values() if c.fid is not None]
    return out, (float(np.mean(defined)) if defined else None)


@dataclass(frozen=True)
class FDInfinity:
    value: float  # intercept of the linear fit of FID against 1/N
    sizes: tuple[int, ...]
    fids: tuple[float, ...]


def fd_infinity(ref_mu: np.ndarray, ref_sigma: np.ndarray, sample_features: np.ndarray, points: int = 15,
                min_size: int | None = None, seed: int = 0) -> FDInfinity:
    """FID of `points` sample subsets with sizes evenly spaced from `min_size` (default n // 5, at least 2) to n,
    each drawn without replacement by numpy default_rng(seed) in increasing size, fitted as a + b / N; returns a."""
    n = len(sample_features)
    lo = max(2, n // 5) if min_size is None else min_size
    if n < 3 or not 2 <= lo < n:
        raise ValueError(f"FD-infinity needs at least 3 samples and 2 <= min_size < n, got n={n}, min_size={lo}")
    sizes = tuple(sorted({int(v) for v in np.linspace(lo, n, points).round()}))
    if len(sizes) < 2:
        raise ValueError("FD-infinity needs at least two distinct subset sizes")
    rng = np.random.default_rng(seed)
    fids = tuple(frechet_distance(*_stats(sample_features[rng.choice(n, size, replace=False)]), ref_mu, ref_sigma)
                 for size in sizes)
    slope, intercept = np.polyfit(1.0 / np.asarray(sizes, np.float64), np.asarray(fids), 1)
    return FDInfinity(value=float(intercept), sizes=sizes, fids=fids)
