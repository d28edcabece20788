"""Perf section `evaluation`: FID route, precision/recall, archive streaming (ours vs straightforward baselines)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import linalg

from benchmark.evaluation.distances import PRArithmetic
from benchmark.evaluation.extra_metrics import density_coverage, kid
from benchmark.evaluation.metrics import frechet_distance, precision_recall
from benchmark.perf.common import PerfRow, best_time

SECTION = "evaluation"


def _random_stats(dim: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)) @ (rng.standard_normal((dim, dim)) / np.sqrt(dim)) + rng.standard_normal(dim)
    return x.mean(axis=0), np.cov(x, rowvar=False)


def inception_like_features(n: int, seed: int, dim: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative features on a low-dimensional manifold (like pool_3), a reference set and a shifted sample set."""
    rng = np.random.default_rng(seed)
    proj = rng.standard_normal((32, dim)).astype(np.float32) / np.sqrt(32)
    ref = np.maximum(rng.standard_normal((n, 32)).astype(np.float32) @ proj, 0) * 0.7
    sample = np.maximum((rng.standard_normal((n, 32)).astype(np.float32) * 0.9 + 0.1) @ proj, 0) * 0.7
    return ref, sample


def _scipy_fid(mu1, s1, mu2, s2) -> float:
    """The reference formula: scipy.linalg.sqrtm of the product (what the paper's evaluator runs)."""
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _numpy_pr(ref: np.ndarray, sample: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Plain numpy precision/recall: full fp32 distance matrices and np.partition (no blocking)."""

    def d2(a, b):
        return np.maximum((a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :], 0)

    r_ref = np.partition(d2(ref, ref), k, axis=1)[:, k]
    r_sam = np.partition(d2(sample, sample), k, axis=1)[:, k]
    d = d2(ref, sample)
    return float((d <= r_ref[:, None]).any(0).mean()), float((d <= r_sam[None, :]).any(1).mean())


def _numpy_kid(ref: np.ndarray, sample: np.ndarray, subsets: int, size: int, seed: int = 2020) -> float:
    """Plain numpy KID: float64 kernel matrices per subset, the unbiased MMD^2 with masked diagonals."""
    rng = np.random.RandomState(seed)
    d, values = ref.shape[1], []
    for _ in range(subsets):
        x = ref[rng.choice(len(ref), size, replace=False)].astype(np.float64)
        y = sample[rng.choice(len(sample), size, replace=False)].astype(np.float64)
        kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
        off = ~np.eye(size, dtype=bool)
        values.append(kxx[off].mean() + kyy[off].mean() - 2 * kxy.mean())
    return float(np.mean(values))


def _numpy_density_coverage(ref: np.ndarray, sample: np.ndarray, k: int = 5) -> tuple[float, float]:
    """Plain numpy density/coverage: full fp32 distance matrices and np.partition (no blocking)."""

    def d2(a, b):
        return np.maximum((a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :], 0)

    radius = np.partition(d2(ref, ref), k, axis=1)[:, k]
    hit = d2(ref, sample) < radius[:, None]
    return float(hit.sum() / (k * len(sample))), float(hit.any(1).mean())


_RSS_SCRIPT = """
import json, resource, sys, time
import numpy as np
mode, path = sys.argv[1], sys.argv[2]
t = time.perf_counter()
if mode == "stream":
    from benchmark.io.npz import iter_image_batches
    total = 0
    for b in iter_image_batches(path, 64):
        total += int(b[:, 0, 0, 0].sum())
else:
    arr = np.load(path)["arr_0"]
    total = int(arr[:, 0, 0, 0].sum())
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")]
rss = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": time.perf_counter() - t, "rss_mib": rss}))
"""


def _measure(mode: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, mode, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool) -> list[PerfRow]:
    """Measure and return rows."""
    rows = []
    dim = 512 if quick else 2048
    mu1, s1 = _random_stats(dim, 3 * dim, 1)
    mu2, s2 = _random_stats(dim, 3 * dim, 2)
    ours_val = frechet_distance(mu1, s1, mu2, s2)
    ref_val = _scipy_fid(mu1, s1, mu2, s2)
    t_ours = best_time(lambda: frechet_distance(mu1, s1, mu2, s2), 3)
    t_ref = best_time(lambda: _scipy_fid(mu1, s1, mu2, s2), 1 if not quick else 2)
    rows.append(PerfRow(SECTION, f"FID from statistics, d={dim}", t_ours, t_ref, "s", False, "scipy sqrtm formula",
                        f"values {ours_val:.9g} vs {ref_val:.9g} (rel diff {abs(ours_val - ref_val) / abs(ref_val):.1e})"))

    n = 2000 if quick else 10000
    ref, sample = inception_like_features(n, seed=0)
    t0 = time.perf_counter()
    p_np = _numpy_pr(ref, sample)
    t_np = time.perf_counter() - t0
    for arithmetic in (PRArithmetic.GPU_TF, PRArithmetic.CPU_TF):
        t0 = time.perf_counter()
        p_ours = precision_recall(ref, sample, arithmetic=arithmetic)
        t_ours = time.perf_counter() - t0
        rows.append(PerfRow(SECTION, f"precision/recall {n}x{n}, d=2048, --pr-arithmetic {arithmetic.value}", t_ours,
                            t_np, "s", False, "plain numpy fp32",
                            f"ours P,R={p_ours[0]:.4f},{p_ours[1]:.4f}; numpy fp32 P,R={p_np[0]:.4f},{p_np[1]:.4f}"))

    subsets = 10 if quick else 100
    t0 = time.perf_counter()
    k_ours = kid(ref, sample, subsets=subsets, subset_size=1000)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    k_np = _numpy_kid(ref, sample, subsets, 1000)
    t_np = time.perf_counter() - t0
    rows.append(PerfRow(SECTION, f"KID {n}x{n}, {subsets} subsets of 1000, d=2048", t_ours, t_np, "s", False,
                        "plain numpy float64", f"KID {k_ours.value:.6g} vs {k_np:.6g}"))
    t0 = time.perf_counter()
    dc_ours = density_coverage(ref, sample)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    dc_np = _numpy_density_coverage(ref, sample)
    t_np = time.perf_counter() - t0
    rows.append(PerfRow(SECTION, f"density/coverage {n}x{n}, k=5, d=2048", t_ours, t_np, "s", False,
                        "plain numpy fp32", f"density,coverage {dc_ours[0]:.4f},{dc_ours[1]:.4f} vs "
                        f"{dc_np[0]:.4f},{dc_np[1]:.4f}"))

    count = 500 if quick else 4000
    res = 64 if quick else 128
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stream.npz"
        images = np.random.default_rng(0).integers(0, 256, (count, res, res, 3), dtype=np.uint8)
        np.savez(path, arr_0=images)
        del images
        mib = path.stat().st_size / 2**20
        stream = _measure("stream", path)
        full = _measure("load", path)
        rows.append(PerfRow(SECTION, f"archive read {count}x{res}x{res}x3 ({mib:.0f} MiB)", mib / stream["seconds"],
                            mib / full["seconds"], "MiB/s", True, "np.load full array",
                            f"peak RSS {stream['rss_mib']:.0f} MiB streaming vs {full['rss_mib']:.0f} MiB np.load"))
    return rows
