"""HDF5 cache of extracted features, keyed by archive fingerprint + extractor name + weights sha256 + backend,
and of a reference's k-NN radii (precision / recall) under the same key plus k and the distance arithmetic.

A cache file is trusted only when every identity attribute matches and the arrays have the expected shapes;
anything else (corrupt file, other extractor, truncated arrays) is deleted and rebuilt. Files are written to a
temporary name and renamed, so a crash never leaves a half-written entry. Extraction of a large archive is
checkpointed into a `.partial.h5` file so that a killed evaluation resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from benchmark import __version__
from benchmark.extractors.base import ExtractorInfo, Features
from benchmark.io.atomic import atomic_path

_KINDS = ("pool", "spatial", "logits")


@dataclass(frozen=True)
class CacheKey:
    archive_fingerprint: str
    num_images: int
    extractor: str
    weights_sha256: str
    backend: str

    @classmethod
    def of(cls, fingerprint: str, num_images: int, info: ExtractorInfo) -> CacheKey:
        return cls(fingerprint, num_images, info.name, info.weights_sha256, info.backend)

    def digest(self) -> str:
        text = "|".join([self.archive_fingerprint, str(self.num_images), self.extractor, self.weights_sha256, self.backend])
        return hashlib.sha256(text.encode()).hexdigest()[:40]

    def attrs(self) -> dict[str, str | int]:
        return {
            "archive_fingerprint": self.archive_fingerprint,
            "num_images": self.num_images,
            "extractor": self.extractor,
            "weights_sha256": self.weights_sha256,
            "backend": self.backend,
        }


@dataclass(frozen=True)
class FeatureCache:
    """Directory of cached feature files."""

    root: Path

    def path(self, key: CacheKey) -> Path:
        return self.root / "features" / f"{key.digest()}.h5"

    def partial_path(self, key: CacheKey) -> Path:
        return self.root / "features" / f"{key.digest()}.partial.h5"

    def load(self, key: CacheKey, dims: tuple[int, int, int]) -> Features | None:
        """Cached features, or None (a mismatching or unreadable file is removed)."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            with h5py.File(path, "r") as f:
                if not _attrs_match(f, key) or f.attrs.get("complete") != 1:
                    raise ValueError("identity mismatch")
                arrays = []
                for kind, dim in zip(_KINDS, dims):
                    arr = f[kind][...]
                    if arr.shape != (key.num_images, dim) or not np.isfinite(arr).all():
                        raise ValueError(f"bad {kind} array")
                    arrays.append(arr.astype(np.float32, copy=False))
            return Features(*arrays)
        except Exception:  # corrupt HDF5, missing datasets, wrong shapes: never trusted, rebuilt
            path.unlink(missing_ok=True)
            return None

    def store(self, key: CacheKey, features: Features) -> None:
        """Write a complete entry atomically."""
        with atomic_path(self.path(key), suffix=".h5") as tmp:
            with h5py.File(tmp, "w") as f:
                for kind in _KINDS:
                    f.create_dataset(kind, data=getattr(features, kind), dtype=np.float32)
                f.attrs.update(key.attrs())
                f.attrs["complete"] = 1
                f.attrs["admbench_version"] = __version__
        self.partial_path(key).unlink(missing_ok=True)


    def radii_path(self, key: CacheKey, k: int, arithmetic: str) -> Path:
        return self.root / "radii" / f"{key.digest()}-k{k}-{arithmetic}.h5"

    def load_radii(self, key: CacheKey, k: int, arithmetic: str) -> np.ndarray | None:
        """Cached k-NN radii of the features under `key` (None when absent; a mismatching file is removed)."""
        path = self.radii_path(key, k, arithmetic)
        if not path.exists():
            return None
        try:
            with h5py.File(path, "r") as f:
                if not _attrs_match(f, key) or int(f.attrs["k"]) != k or _text(f.attrs["arithmetic"]) != arithmetic:
                    raise ValueError("identity mismatch")
                radii = f["radii"][...]
            if radii.shape != (key.num_images,) or not np.isfinite(radii).all() or (radii < 0).any():
                raise ValueError("bad radii")
            return radii.astype(np.float32, copy=False)
        except Exception:  # never trusted when anything is off: recomputed
            path.unlink(missing_ok=True)
            return None

    def store_radii(self, key: CacheKey, k: int, arithmetic: str, radii: np.ndarray) -> None:
        with atomic_path(self.radii_path(key, k, arithmetic), suffix=".h5") as tmp:
            with h5py.File(tmp, "w") as f:
                f.create_dataset("radii", data=np.asarray(radii, dtype=np.float32))
                f.attrs.update(key.attrs())
                f.attrs["k"] = k
                f.attrs["arithmetic"] = arithmetic
                f.attrs["admbench_version"] = __version__


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class PartialFeatures:
    """Append-only checkpoint of features extracted so far; resumes a killed extraction."""

    def __init__(self, cache: FeatureCache, key: CacheKey, dims: tuple[int, int, int]) -> None:
        self._path = cache.partial_path(key)
        self._key = key
        self._dims = dims
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._open_or_create()

    def _open_or_create(self) -> h5py.File:
        if self._path.exists():
            try:
                f = h5py.File(self._path, "a")
                if _attrs_match(f, self._key) and all(
                    f[k].shape[1] == d and f[k].shape[0] >= int(f.attrs["done"]) for k, d in zip(_KINDS, self._dims)
                ):
                    return f
                f.close()
            except Exception:
                pass
            self._path.unlink(missing_ok=True)
        f = h5py.File(self._path, "w")
        for kind, dim in zip(_KINDS, self._dims):
            f.create_dataset(kind, shape=(self._key.num_images, dim), dtype=np.float32)
        f.attrs.update(self._key.attrs())
        f.attrs["done"] = 0
        f.flush()
        return f

    @property
    def done(self) -> int:
        return int(self._file.attrs["done"])

    def append(self, features: Features) -> None:
        start = self.done
        stop = start + len(features)
        for kind in _KINDS:
            self._file[kind][start:stop] = getattr(features, kind)
        self._file.flush()
        self._file.attrs["done"] = stop  # advanced only after the data is flushed
        self._file.flush()

    def read_all(self) -> Features:
        return Features(*(self._file[k][: self.done].astype(np.float32) for k in _KINDS))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()


def _attrs_match(f: h5py.File, key: CacheKey) -> bool:
    for name, value in key.attrs().items():
        stored = f.attrs.get(name)
        if isinstance(stored, bytes):
            stored = stored.decode()
        if isinstance(stored, np.integer):
            stored = int(stored)
        if stored != value:
            return False
    return True
