"""Archive -> features: streamed batches (read one ahead) through an extractor, cached in HDF5, resumable,
sharded across ranks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.distributed import World, current_world, gather_rows, shard_range
from benchmark.evaluation.cache import CacheKey, FeatureCache, PartialFeatures
from benchmark.extractors.base import FeatureExtractor, Features
from benchmark.io.npz import ArchiveInfo, inspect_archive, iter_image_batches
from benchmark.io.prefetch import prefetched
from benchmark.progress import QuietReporter, Reporter

_CHECKPOINT_EVERY = 2048  # images between flushes of the partial cache file


def _dims(extractor: FeatureExtractor) -> tuple[int, int, int]:
    info = extractor.info
    return info.pool_dim, info.spatial_dim, info.logits_dim


def _concat(parts: list[Features], dims: tuple[int, int, int]) -> Features:
    if not parts:
        return Features(*(np.zeros((0, d), np.float32) for d in dims))
    return Features(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("pool", "spatial", "logits")))


def _check(features: Features, dims: tuple[int, int, int], n: int, name: str) -> None:
    for kind, d in zip(("pool", "spatial", "logits"), dims):
        arr = getattr(features, kind)
        if arr.shape != (n, d):
            raise RuntimeError(f"extractor {name} returned {kind} of shape {arr.shape}, expected {(n, d)}")


def extract_features(
    path: str | Path,
    extractor: FeatureExtractor,
    batch_size: int,
    cache: FeatureCache | None = None,
    reporter: Reporter | None = None,
    world: World | None = None,
) -> tuple[Features, ArchiveInfo, bool]:
    """Features of every image in the archive, in archive order. Returns (features, info, cache_hit).

    With several ranks, each extracts a contiguous shard and the shards are gathered in order. A single
    process checkpoints into the cache's partial file, so a killed run resumes.
    """
    reporter = reporter or QuietReporter()
    world = world or current_world()
    info = inspect_archive(path)
    dims = _dims(extractor)
    key = CacheKey.of(info.fast_key, info.num_images, extractor.info)
    if cache is not None:
        cached = cache.load(key, dims)
        if cached is not None:
            return cached, info, True
    label = Path(path).name
    if world.size > 1:
        start, stop = shard_range(info.num_images, world)
        parts = []
        with reporter.task(f"features {label} [rank {world.rank}]", stop - start) as task:
            for batch in prefetched(iter_image_batches(path, batch_size, start, stop)):
                feats = extractor.extract(batch)
                _check(feats, dims, len(batch), extractor.info.name)
                parts.append(feats)
                task.advance(len(batch))
        local = _concat(parts, dims)
        features = Features(*(gather_rows(getattr(local, k), world) for k in ("pool", "spatial", "logits")))
        if cache is not None and world.is_main:
            cache.store(key, features)
        return features, info, False
    if cache is None:
        parts = []
        with reporter.task(f"features {label}", info.num_images) as task:
            for batch in prefetched(iter_image_batches(path, batch_size)):
                feats = extractor.extract(batch)
                _check(feats, dims, len(batch), extractor.info.name)
                parts.append(feats)
                task.advance(len(batch))
        return _concat(parts, dims), info, False
    partial = PartialFeatures(cache, key, dims)
    try:
        done = partial.done
        if done:
            reporter.log(f"resuming feature extraction of {label} at image {done}/{info.num_images}")
        pending: list[Features] = []
        pending_n = 0
        with reporter.task(f"features {label}", info.num_images) as task:
            task.advance(done)
            for batch in prefetched(iter_image_batches(path, batch_size, start=done)):
                feats = extractor.extract(batch)
                _check(feats, dims, len(batch), extractor.info.name)
                pending.append(feats)
                pending_n += len(batch)
                task.advance(len(batch))
                if pending_n >= _CHECKPOINT_EVERY:
                    partial.append(_concat(pending, dims))
                    pending, pending_n = [], 0
            if pending:
                partial.append(_concat(pending, dims))
        features = partial.read_all()
    finally:
        partial.close()
    cache.store(key, features)
    return features, info, False
