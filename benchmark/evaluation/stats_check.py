"""Problems of Gaussian statistics (mean `mu`, covariance `sigma`) that would make a Frechet distance meaningless.

Each check returns None or one short sentence for the caller's error (which names the file and key).
Tolerances are relative to the matrix's own scale and to the precision it was stored in:
`relative_tolerance(dim, dtype) = dim * eps(dtype)` (numpy.linalg.matrix_rank's default), capped at 1e-2 so
that float16 statistics are still checked. A covariance passes when

- every entry is finite and max|sigma| * dim <= MAX_MAGNITUDE (then sums of products of two such matrices,
  as in tr((sigma1 sigma2)^(1/2)), stay far below float64's 1.8e308; the same bound holds for ||mu||^2),
- max|sigma - sigma^T| <= tol * max|sigma| (symmetric up to round-off),
- its smallest eigenvalue is >= -tol * its largest |eigenvalue| (positive semi-definite up to round-off).
"""

from __future__ import annotations

import numpy as np

MAX_MAGNITUDE = 1e100
MAX_RELATIVE_TOLERANCE = 1e-2


def relative_tolerance(dim: int, dtype: np.dtype) -> float:
    """Round-off allowance of a dim x dim matrix stored as `dtype` (float64 for non-float types)."""
    dtype = np.dtype(dtype) if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)
    return min(max(dim, 1) * float(np.finfo(dtype).eps), MAX_RELATIVE_TOLERANCE)


def mean_problem(mu: np.ndarray) -> str | None:
    """Non-finite or overflowing entries of a mean vector."""
    mu = np.asarray(mu, dtype=np.float64)
    if not np.isfinite(mu).all():
        return "contains NaN or inf"
    largest = float(np.abs(mu).max(initial=0.0))
    if largest * np.sqrt(max(mu.size, 1)) > MAX_MAGNITUDE:
        return f"has entries up to {largest:.3g}; squared distances would overflow float64"
    return None


def covariance_problem(sigma: np.ndarray, stored_dtype: np.dtype, check_psd: bool = True) -> str | None:
    """Non-finite, overflowing, asymmetric or (with `check_psd`, one eigendecomposition) indefinite covariance.

    Without `check_psd` only the diagonal is checked for negative variances (O(dim), for repeated calls).
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    dim = sigma.shape[0] if sigma.ndim == 2 else 0
    if sigma.ndim != 2 or sigma.shape != (dim, dim):
        return f"has shape {sigma.shape}, expected a square matrix"
    if not np.isfinite(sigma).all():
        return "contains NaN or inf"
    scale = float(np.abs(sigma).max(initial=0.0))
    if scale * max(dim, 1) > MAX_MAGNITUDE:
        return f"has entries up to {scale:.3g}; products of covariances would overflow float64"
    tol = relative_tolerance(dim, stored_dtype)
    asymmetry = float(np.abs(sigma - sigma.T).max(initial=0.0))
    if asymmetry > tol * scale:
        return (f"is not symmetric: max |sigma - sigma^T| = {asymmetry:.3g} against entries up to {scale:.3g} "
                f"(tolerance {tol:.2g} relative)")  # fmt: skip
    lowest_diag = float(np.diag(sigma).min(initial=0.0))
    if lowest_diag < -tol * scale:
        return f"is not a covariance: a variance (diagonal entry) is {lowest_diag:.3g}"
    if check_psd and dim:
        evals = np.linalg.eigvalsh((sigma + sigma.T) / 2)
        top = float(np.abs(evals).max())
        if float(evals[0]) < -tol * top:
            return (f"is not positive semi-definite: smallest eigenvalue {float(evals[0]):.3g}, largest |eigenvalue| "
                    f"{top:.3g} (tolerance {tol:.2g} relative)")  # fmt: skip
    return None
