"""Archive -> features: streamed batches (read one ahead) through an extractor, cached in HDF5, resumable,
sharded across ranks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.distributed import World, current_world, gather_rows, shard_range
from benchmark.errors import InputError
from benchmark.evaluation.cache import CacheKey, CacheUnusable, FeatureCache, PartialFeatures
from benchmark.extractors.base import FeatureExtractor, Features
from benchmark.io.digest import file_sha256
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


def archive_sha256(path: str | Path, reporter: Reporter) -> str:
    """SHA-256 of the archive's bytes, with a progress bar in MiB."""
    path = Path(path)
    size_mib = max(1, -(-path.stat().st_size // (1 << 20)))
    with reporter.task(f"sha256 {path.name}", size_mib, unit="MiB") as task:
        seen = {"bytes": 0, "mib": 0}

        def advance(n: int) -> None:
            seen["bytes"] += n
            mib = seen["bytes"] >> 20
            task.advance(mib - seen["mib"])
            seen["mib"] = mib

        return file_sha256(path, advance)


def extract_features(
    path: str | Path,
    extractor: FeatureExtractor,
    batch_size: int,
    cache: FeatureCache | None = None,
    reporter: Reporter | None = None,
    world: World | None = None,
    sha256: str | None = None,
) -> tuple[Features, ArchiveInfo, bool]:
    """Features of every image in the archive, in archive order. Returns (features, info, cache_hit).

    The cache is looked up by the SHA-256 of the archive's bytes, hashed now (`sha256`, when the caller just
    computed it, else here), so no cached entry is served for bytes other than those on disk. With several ranks,
    each extracts a contiguous shard and the shards are gathered in order. A single process checkpoints into the
    cache's partial directory, so a killed run resumes; an archive found damaged while it is read leaves no
    checkpoint behind. A cache that cannot be read or written (full disk, something else at an entry's path) is
    reported as a warning and the evaluation continues without it: the numbers do not depend on the cache.
    """
    reporter = reporter or QuietReporter()
    world = world or current_world()
    info = inspect_archive(path)
    dims = _dims(extractor)
    label = Path(path).name
    key = None
    if cache is not None:
        key = CacheKey.of(sha256 or archive_sha256(path, reporter), info.num_images, extractor.info)
        try:
            cached = cache.load(key, dims)
        except CacheUnusable as exc:
            reporter.warn(_cache_warning(exc, label))
            cache = None
        else:
            if cached is not None:
                return cached, info, True
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
        if cache is not None and key is not None and world.is_main:
            _store(cache, key, features, reporter, label)
        return features, info, False
    partial = None
    if cache is not None and key is not None:
        try:
            partial = PartialFeatures(cache, key, dims)
        except CacheUnusable as exc:
            reporter.warn(_cache_warning(exc, label))
    try:
        features, partial = _extract_checkpointed(path, extractor, batch_size, info.num_images, partial, reporter)
    except InputError:  # the archive is damaged: its checkpoints must not be resumed
        if partial is not None:
            partial.discard()
        raise
    if partial is not None and cache is not None and key is not None:
        _store(cache, key, features, reporter, label)
        partial.discard()
    return features, info, False


def _extract_checkpointed(path: str | Path, extractor: FeatureExtractor, batch_size: int, num_images: int,
                          partial: PartialFeatures | None,
                          reporter: Reporter) -> tuple[Features, PartialFeatures | None]:  # fmt: skip
    """Extract images [done, N) on top of the checkpoints' rows; returns the features and the checkpoints still in
    use (None once a checkpoint could not be written: they are removed and extraction goes on in memory)."""
    dims = _dims(extractor)
    label = Path(path).name
    parts: list[Features] = [] if partial is None else list(partial.checkpointed)
    done = 0 if partial is None else partial.done
    if done:
        reporter.log(f"resuming feature extraction of {label} at image {done}/{num_images}")
    pending: list[Features] = []
    pending_n = 0
    with reporter.task(f"features {label}", num_images) as task:
        task.advance(done)
        for batch in prefetched(iter_image_batches(path, batch_size, start=done)):
            feats = extractor.extract(batch)
            _check(feats, dims, len(batch), extractor.info.name)
            pending.append(feats)
            pending_n += len(batch)
            task.advance(len(batch))
            if pending_n >= _CHECKPOINT_EVERY:
                partial = _checkpoint(partial, _concat(pending, dims), parts, reporter, label)
                pending, pending_n = [], 0
        if pending:
            partial = _checkpoint(partial, _concat(pending, dims), parts, reporter, label)
    return _concat(parts, dims), partial


def _checkpoint(partial: PartialFeatures | None, chunk: Features, parts: list[Features], reporter: Reporter,
                label: str) -> PartialFeatures | None:  # fmt: skip
    parts.append(chunk)
    if partial is None:
        return None
    try:
        partial.append(chunk)
    except CacheUnusable as exc:
        reporter.warn(_cache_warning(exc, label))
        partial.discard()
        return None
    return partial


def _store(cache: FeatureCache, key: CacheKey, features: Features, reporter: Reporter, label: str) -> None:
    try:
        cache.store(key, features)
    except CacheUnusable as exc:
        reporter.warn(_cache_warning(exc, label))


def _cache_warning(exc: CacheUnusable, label: str) -> str:
    return f"{exc}; continuing without the feature cache for {label} (the results are the same, only slower to repeat)"
