"""Metric functions of the paper's evaluator, arrays in and numbers out.

Definitions follow guided-diffusion's `evaluations/evaluator.py` (the evaluator behind every number in the paper):
FID and sFID are Frechet distances between Gaussian fits of features; IS is exp(E_x KL(p(y|x) || p(y))) over
contiguous splits of 5000 bias-free softmax outputs; precision / recall are the k-NN manifold estimates of
Kynkaanniemi et al. (2019) with k = 3, computed in the reference's fp16 distance arithmetic (`distances.PRArithmetic`).
"""

from __future__ import annotations

import numpy as np
import torch

from benchmark.evaluation.distances import DistanceBlock, PRArithmetic, at_most, distance_block
from benchmark.evaluation.stats_check import covariance_problem, mean_problem

#----------------------------------------------------------------------------
# Frechet distance (FID, sFID).


def _check_stats(mu: np.ndarray, sigma: np.ndarray, which: str) -> tuple[np.ndarray, np.ndarray]:
    """float64 copies of one Gaussian's statistics; ValueError when they cannot give a meaningful distance.

    The checks are the O(dim^2) ones of benchmark.evaluation.stats_check (finite, no float64 overflow, symmetric
    and non-negative variances within round-off of the input's precision); the eigenvalue check is the
    callers' (the evaluator runs it once on stored statistics), so bootstrap replicates stay cheap.
    """
    stored_dtype = np.asarray(sigma).dtype
    mu = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{which}: mean of shape {mu.shape} and covariance of shape {sigma.shape} do not match")
    problem = mean_problem(mu)
    if problem is not None:
        raise ValueError(f"{which}: mean {problem}")
    problem = covariance_problem(sigma, stored_dtype, check_psd=False)
    if problem is not None:
        raise ValueError(f"{which}: covariance {problem}")
    return mu, sigma


def _psd_sqrt(sigma: torch.Tensor) -> torch.Tensor:
    """Symmetric PSD square root via eigh; tiny negative eigenvalues from rounding are clipped to zero."""
    evals, evecs = torch.linalg.eigh(sigma)
    return (evecs * evals.clamp(min=0).sqrt()) @ evecs.T


def trace_sqrt_product(
    sigma1: np.ndarray, sigma2: np.ndarray, device: str | torch.device = "cpu", method: str = "auto"
) -> float:
    """tr((sigma1 sigma2)^(1/2)) for symmetric PSD matrices, without a general matrix square root.

    sigma1 sigma2 = A (A^T sigma2) for any factor sigma1 = A A^T, so it has the eigenvalues of A^T sigma2 A, a
    symmetric PSD matrix; the trace is the sum of the square roots of those eigenvalues. `method="cholesky"` takes
    A from a Cholesky factorisation (fast, needs sigma1 positive definite); `"eigh"` takes A = sigma1^(1/2) from an
    eigendecomposition, exact for rank-deficient inputs (fewer samples than dimensions) where a Schur-based sqrtm
    returns complex noise. `"auto"` tries Cholesky and falls back to eigh.
    """
    s1 = torch.as_tensor(sigma1, dtype=torch.float64, device=device)
    s2 = torch.as_tensor(sigma2, dtype=torch.float64, device=device)
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    factor = None
    if method in ("auto", "cholesky"):
        factor, info = torch.linalg.cholesky_ex(s1)
        if int(info) != 0:
            if method == "cholesky":
                raise ValueError("sigma1 is not positive definite; use method='eigh'")
            factor = None
    if factor is None:
        factor = _psd_sqrt(s1)
    m = factor.T @ s2 @ factor
    evals = torch.linalg.eigvalsh((m + m.T) / 2)
    return float(evals.clamp(min=0).sqrt().sum())


# A computed distance in [-FID_ROUNDOFF * (|tr S1| + |tr S2| + ||mu1 - mu2||^2), 0) is round-off and reads as 0:
# identical rank-deficient covariances (2048 dims, 300 samples) give about -4e-8 of that scale; anything more
# negative means the covariances are not positive semi-definite and is an error.
FID_ROUNDOFF = 1e-5


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    device: str | torch.device = "cpu",
) -> float:
    """Frechet distance ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)) between two Gaussians (float64).

    Tiny negative round-off (within FID_ROUNDOFF of the traces) is returned as 0.0; a larger negative value
    raises ValueError (the covariances are not positive semi-definite).
    """
    mu1, sigma1 = _check_stats(mu1, sigma1, "first statistics")
    mu2, sigma2 = _check_stats(mu2, sigma2, "second statistics")
    if mu1.shape != mu2.shape:
        raise ValueError(f"statistics have different dimensions: {mu1.shape[0]} and {mu2.shape[0]}")
    diff = mu1 - mu2
    tr1, tr2, mean_term = float(np.trace(sigma1)), float(np.trace(sigma2)), float(diff @ diff)
    tr_covmean = trace_sqrt_product(sigma1, sigma2, device=device)
    distance = mean_term + tr1 + tr2 - 2.0 * tr_covmean
    if distance >= 0.0:
        return distance
    if -distance <= FID_ROUNDOFF * (abs(tr1) + abs(tr2) + mean_term):
        return 0.0
    raise ValueError(f"Frechet distance is {distance:.6g} < 0: the covariances are not positive semi-definite "
                     f"(traces {tr1:.6g} and {tr2:.6g})")  # fmt: skip


#----------------------------------------------------------------------------
# Inception Score.


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax in float32 (the reference applies tf.nn.softmax to float32 logits)."""
    x = np.asarray(logits, dtype=np.float32)
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def inception_score(probs: np.ndarray, split_size: int = 5000) -> float:
    """Mean over contiguous splits of exp(mean_i KL(p_i || mean_j p_j)), as the reference evaluator.

    `probs` are softmax outputs of the bias-free logits, in file order (no shuffling); the last split may be
    shorter. Arithmetic stays in the input's float precision (float32 in the reference).
    """
    probs = np.asarray(probs)
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError(f"probabilities must be a non-empty [N, C] array, got shape {probs.shape}")
    if split_size < 1:
        raise ValueError("split_size must be positive")
    scores = []
    for start in range(0, len(probs), split_size):
        part = probs[start : start + split_size]
        kl = part * (np.log(part) - np.log(np.mean(part, axis=0, keepdims=True)))
        scores.append(np.exp(np.mean(np.sum(kl, axis=1))))
    return float(np.mean(scores))


#----------------------------------------------------------------------------
# Precision and recall (improved precision/recall, k-NN manifolds).


def pairwise_sq_distances(
    u: torch.Tensor, v: torch.Tensor, arithmetic: PRArithmetic = PRArithmetic.GPU_TF
) -> torch.Tensor:
    """Squared distances max(|u|^2 - 2 u.v + |v|^2, 0) between rows of u [M, D] and v [N, D], float32, every
    entry exact in the given arithmetic (see `benchmark.evaluation.distances`)."""
    block = distance_block(u, v, arithmetic)
    block.exact_at(torch.ones_like(block.d, dtype=torch.bool))
    return block.d.float()


def _merge_smallest(best: torch.Tensor | None, block: DistanceBlock, count: int) -> torch.Tensor:
    """The `count` smallest exact values per row of [best | block] (float32): only the block's entries that can
    still be among them (lower bound <= the count-th smallest upper bound) are made exact."""
    count_here = min(count, block.hi.shape[1])
    hi = torch.topk(block.hi, count_here, dim=1, largest=False).values.float()
    if best is not None:
        hi = torch.cat([best, hi], dim=1)
    threshold = torch.topk(hi, min(count, hi.shape[1]), dim=1, largest=False).values[:, -1:]
    block.exact_at(at_most(block.lo, threshold))
    cand = torch.topk(block.d, count_here, dim=1, largest=False).values.float()
    if best is not None:
        cand = torch.cat([best, cand], dim=1)
    return torch.topk(cand, min(count, cand.shape[1]), dim=1, largest=False).values


def manifold_radii(
    features: torch.Tensor,
    k: int = 3,
    block_size: int = 10000,
    arithmetic: PRArithmetic = PRArithmetic.GPU_TF,
) -> torch.Tensor:
    """Squared distance from each feature to its k-th nearest neighbour in its own set (index 0 is itself)."""
    n = features.shape[0]
    if n < k + 1:
        raise ValueError(f"precision/recall with k={k} needs at least {k + 1} feature vectors, got {n}")
    radii = torch.empty(n, dtype=torch.float32, device=features.device)
    for r0 in range(0, n, block_size):
        rows = features[r0 : r0 + block_size]
        best = None  # running k+1 smallest distances per row, merged over column blocks
        for c0 in range(0, n, block_size):
            best = _merge_smallest(best, distance_block(rows, features[c0 : c0 + block_size], arithmetic), k + 1)
        assert best is not None
        radii[r0 : r0 + block_size] = best[:, k]
    return radii


def _exact_near(block: DistanceBlock, row_radii: torch.Tensor, col_radii: torch.Tensor) -> None:
    """Make exact the entries whose ball membership (d <= a row's or a column's radius) the bounds leave open."""
    if block.exact:
        return
    rows, cols = row_radii[:, None], col_radii[None, :]
    open_row = at_most(block.lo, rows) & ~at_most(block.hi, rows)
    open_col = at_most(block.lo, cols) & ~at_most(block.hi, cols)
    block.exact_at(open_row | open_col)


def _coverage(
    ref: torch.Tensor,
    ref_radii: torch.Tensor,
    sample: torch.Tensor,
    sample_radii: torch.Tensor,
    block_size: int,
    arithmetic: PRArithmetic,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flags: ref[i] inside some sample ball (recall), sample[j] inside some ref ball (precision)."""
    ref_in = torch.zeros(ref.shape[0], dtype=torch.bool, device=ref.device)
    sample_in = torch.zeros(sample.shape[0], dtype=torch.bool, device=ref.device)
    for r0 in range(0, ref.shape[0], block_size):
        r1 = r0 + block_size
        for c0 in range(0, sample.shape[0], block_size):
            c1 = c0 + block_size
            block = distance_block(ref[r0:r1], sample[c0:c1], arithmetic)  # rows: reference, as the reference
            _exact_near(block, ref_radii[r0:r1], sample_radii[c0:c1])
            ref_in[r0:r1] |= at_most(block.d, sample_radii[None, c0:c1]).any(dim=1)
            sample_in[c0:c1] |= at_most(block.d, ref_radii[r0:r1, None]).any(dim=0)
    return ref_in, sample_in


def _ref_radii(
    ref: torch.Tensor, given: np.ndarray | None, k: int, block_size: int, arithmetic: PRArithmetic
) -> torch.Tensor:
    """The reference's k-NN radii: `given` (e.g. cached by the evaluator; checked for shape) or computed."""
    if given is None:
        return manifold_radii(ref, k, block_size, arithmetic)
    radii = torch.as_tensor(np.asarray(given, dtype=np.float32), device=ref.device)
    if radii.shape != (ref.shape[0],):
        raise ValueError(f"reference radii must have shape ({ref.shape[0]},), got {tuple(radii.shape)}")
    return radii


def _as_features(ref_features: np.ndarray, sample_features: np.ndarray, device: str | torch.device):
    ref = torch.as_tensor(np.asarray(ref_features, dtype=np.float32), device=device)
    sample = torch.as_tensor(np.asarray(sample_features, dtype=np.float32), device=device)
    if ref.ndim != 2 or sample.ndim != 2 or ref.shape[1] != sample.shape[1]:
        raise ValueError(f"feature arrays must be [N, D] with equal D, got {tuple(ref.shape)} and {tuple(sample.shape)}")
    return ref, sample


def precision_recall(
    ref_features: np.ndarray,
    sample_features: np.ndarray,
    k: int = 3,
    block_size: int = 10000,
    arithmetic: PRArithmetic = PRArithmetic.GPU_TF,
    device: str | torch.device = "cpu",
    ref_radii: np.ndarray | None = None,
) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k-NN radii, as the reference evaluator.

    Precision: fraction of samples inside at least one reference ball; recall: fraction of reference features
    inside at least one sample ball. A point is inside a ball when its squared distance is <= the ball's radius.
    Memory is O(block_size^2), so 50k x 50k runs in a few GB on CPU or GPU.
    """
    ref, sample = _as_features(ref_features, sample_features, device)
    radii = _ref_radii(ref, ref_radii, k, block_size, arithmetic)
    sample_radii = manifold_radii(sample, k, block_size, arithmetic)
    ref_in, sample_in = _coverage(ref, radii, sample, sample_radii, block_size, arithmetic)
    precision = float(sample_in.double().mean())
    recall = float(ref_in.double().mean())
    return precision, recall


def coverage_matrix(
    ref_features: np.ndarray,
    sample_features: np.ndarray,
    k: int = 3,
    block_size: int = 10000,
    arithmetic: PRArithmetic = PRArithmetic.GPU_TF,
    device: str | torch.device = "cpu",
    ref_radii: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample precision flags [n] and the recall cover matrix [m, n] (reference j inside sample i's ball),
    with `precision_recall`'s arithmetic: precision = flags.mean(), recall = cover.any(1).mean()."""
    ref, sample = _as_features(ref_features, sample_features, device)
    ref_radii_t = _ref_radii(ref, ref_radii, k, block_size, arithmetic)
    sample_radii = manifold_radii(sample, k, block_size, arithmetic)
    cover = np.zeros((ref.shape[0], sample.shape[0]), dtype=bool)
    flags = torch.zeros(sample.shape[0], dtype=torch.bool, device=ref.device)
    for r0 in range(0, ref.shape[0], block_size):
        r1 = r0 + block_size
        for c0 in range(0, sample.shape[0], block_size):
            c1 = c0 + block_size
            block = distance_block(ref[r0:r1], sample[c0:c1], arithmetic)
            _exact_near(block, ref_radii_t[r0:r1], sample_radii[c0:c1])
            cover[r0:r1, c0:c1] = at_most(block.d, sample_radii[None, c0:c1]).cpu().numpy()
            flags[c0:c1] |= at_most(block.d, ref_radii_t[r0:r1, None]).any(dim=0)
    return flags.cpu().numpy(), cover


__all__ = [
    "frechet_distance",
    "trace_sqrt_product",
    "softmax",
    "inception_score",
    "PRArithmetic",
    "pairwise_sq_distances",
    "manifold_radii",
    "precision_recall",
    "coverage_matrix",
]

