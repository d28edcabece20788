"""Reference batches in ADM's format for any dataset and extractor (guided-diffusion evaluations/README).

The `.npz` holds
  - `arr_0`: uint8 [M, R, R, C] images for precision / recall (M = min(num_images, N); a seeded uniform
    subset without replacement, numpy `default_rng(seed).choice`, kept in ascending dataset order; all N
    images when num_images >= N),
  - `mu`, `sigma` (pool features) and `mu_s`, `sigma_s` (spatial features): float64 mean and unbiased
    covariance over the WHOLE dataset, accumulated batch by batch with FeatureStats.
It is written atomically and recorded in the manifest of its folder (sha256, dataset, split, resolution,
channels, image counts, extractor name and weights sha256, admbench version).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark import __version__
from benchmark.data.base import ImageDataset, iter_batches
from benchmark.data.reference_manifest import REFERENCE_DIR, record_file
from benchmark.evaluation.stats import FeatureStats
from benchmark.extractors.base import FeatureExtractor
from benchmark.io.atomic import atomic_path

DEFAULT_NUM_IMAGES = 10_000  # the paper's reference-batch convention for precision / recall


@dataclass(frozen=True)
class ReferenceBatch:
    """What a reference build computed (also written to the `.npz`)."""

    images: np.ndarray  # arr_0
    indices: np.ndarray  # dataset indices of arr_0
    mu: np.ndarray
    sigma: np.ndarray
    mu_s: np.ndarray
    sigma_s: np.ndarray
    num_stats_images: int


def select_indices(total: int, num_images: int, seed: int) -> np.ndarray:
    """Dataset indices for arr_0: all of them if num_images >= total, else a seeded subset in ascending order."""
    if num_images >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=num_images, replace=False))


def default_output_name(dataset: ImageDataset, extractor_name: str) -> str:
    """`<dataset>-<split>-<R>x<R>x<C>-<extractor>.npz`, e.g. fmnist-train-16x16x3-fmnist-cnn.npz."""
    desc = dataset.describe()
    if desc["dataset"] == "fashion-mnist":
        stem = f"fmnist-{desc['split']}"
    else:
        stem = Path(str(desc.get("path", desc["dataset"]))).stem or str(desc["dataset"])
    r, c = dataset.resolution, dataset.channels
    return f"{stem}-{r}x{r}x{c}-{extractor_name}.npz"


def compute_reference_batch(
    dataset: ImageDataset,
    extractor: FeatureExtractor,
    num_images: int = DEFAULT_NUM_IMAGES,
    seed: int = 0,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> ReferenceBatch:
    """Feature statistics over the whole dataset plus the arr_0 subset, in memory."""
    info = extractor.info
    pool, spatial = FeatureStats(dim=info.pool_dim), FeatureStats(dim=info.spatial_dim)
    for images, _ in iter_batches(dataset, batch_size):
        features = extractor.extract(images)
        pool.update(features.pool)
        spatial.update(features.spatial)
        if progress is not None:
            progress(len(images))
    indices = select_indices(len(dataset), num_images, seed)
    images, _ = dataset.take(indices)
    return ReferenceBatch(
        images=np.ascontiguousarray(images, dtype=np.uint8),
        indices=indices,
        mu=pool.mean(),
        sigma=pool.covariance(),
        mu_s=spatial.mean(),
        sigma_s=spatial.covariance(),
        num_stats_images=pool.count,
    )


def write_reference_batch(batch: ReferenceBatch, out_path: Path) -> None:
    """Write arr_0, mu, sigma, mu_s, sigma_s as a compressed `.npz`, atomically."""
    with atomic_path(out_path, suffix=".npz") as tmp:
        np.savez_compressed(
            tmp, arr_0=batch.images, mu=batch.mu, sigma=batch.sigma, mu_s=batch.mu_s, sigma_s=batch.sigma_s
        )


def build_reference(
    dataset: ImageDataset,
    extractor: FeatureExtractor,
    out_path: Path | None = None,
    num_images: int = DEFAULT_NUM_IMAGES,
    seed: int = 0,
    batch_size: int = 1000,
    log: Callable[[str], None] = print,
) -> dict[str, object]:
    """Compute and write a reference batch, record it in the manifest of its folder; return the manifest entry."""
    info = extractor.info
    out_path = Path(out_path) if out_path is not None else REFERENCE_DIR / default_output_name(dataset, info.name)
    started = time.perf_counter()
    batch = compute_reference_batch(dataset, extractor, num_images, seed, batch_size)
    write_reference_batch(batch, out_path)
    entry = record_file(
        out_path,
        {
            "kind": "reference-batch",
            **dataset.describe(),
            "num_images_stats": batch.num_stats_images,
            "num_images_arr_0": int(len(batch.images)),
            "arr_0_selection": "all images" if len(batch.indices) == len(dataset)
            else f"seeded uniform subset without replacement (numpy default_rng({seed}).choice), ascending order",
            "seed": seed,
            "extractor": info.name,
            "extractor_weights_sha256": info.weights_sha256,
            "reference_inception": info.reference_inception,
            "pool_dim": info.pool_dim,
            "spatial_dim": info.spatial_dim,
            "admbench_version": __version__,
        },
    )  # fmt: skip
    log(f"wrote {out_path}: stats over {batch.num_stats_images} images, arr_0 {batch.images.shape}, "
        f"{time.perf_counter() - started:.0f} s, sha256 {entry['sha256']}")  # fmt: skip
    return entry
