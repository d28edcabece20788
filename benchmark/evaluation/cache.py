"""HDF5 cache of extracted features, keyed by the archive's SHA-256 + extractor name + weights sha256 + backend,
and of a reference's k-NN radii (precision / recall) under the same key plus k and the distance arithmetic.

Nothing read back is trusted: an entry is used only when every identity attribute matches, the arrays have the
expected shapes and their SHA-256 equals the one stored with them; anything else (corrupt file, flipped bytes,
other extractor, truncated arrays) is deleted and rebuilt. Extraction of a large archive is checkpointed into
`<key>.partial/`, one verified file per checkpoint, so that a killed evaluation resumes where it stopped and the
checkpoints only ever hold images that were read.

Every file is built in memory and written by `atomic_write`, never by HDF5 itself: HDF5 crashes the process
(segfault) when the disk fills under it, while a failed plain write is an OSError, the temporary file is removed
and the caller is told with `CacheUnusable`. For the same reason HDF5 never parses bytes that were not verified
first: each file's HDF5 user block (512 bytes that the format reserves for the application, so the file stays
readable by any HDF5 tool) holds the SHA-256 of the rest of the file, checked before h5py opens it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from benchmark import __version__
from benchmark.extractors.base import ExtractorInfo, Features
from benchmark.io.atomic import atomic_write
from benchmark.io.digest import arrays_sha256

_KINDS = ("pool", "spatial", "logits")
_CHUNK_NAME = re.compile(r"(\d{12})-(\d{12})\.h5")
_USERBLOCK = 512  # the smallest HDF5 user block
_MAGIC = b"admbench-cache sha256 "
_HEADER = re.compile(re.escape(_MAGIC) + rb"([0-9a-f]{64})\n\x00*")


class CacheUnusable(Exception):
    """The cache cannot hold an entry (full disk, file size limit, permissions, something else at its path)."""


@dataclass(frozen=True)
class CacheKey:
    archive_sha256: str
    num_images: int
    extractor: str
    weights_sha256: str
    backend: str

    @classmethod
    def of(cls, archive_sha256: str, num_images: int, info: ExtractorInfo) -> CacheKey:
        return cls(archive_sha256, num_images, info.name, info.weights_sha256, info.backend)

    def digest(self) -> str:
        text = "|".join([self.archive_sha256, str(self.num_images), self.extractor, self.weights_sha256, self.backend])
        return hashlib.sha256(text.encode()).hexdigest()[:40]

    def attrs(self) -> dict[str, str | int]:
        return {
            "archive_sha256": self.archive_sha256,
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

    def partial_dir(self, key: CacheKey) -> Path:
        return self.root / "features" / f"{key.digest()}.partial"

    def load(self, key: CacheKey, dims: tuple[int, int, int]) -> Features | None:
        """Verified cached features, or None (a mismatching or unreadable file is removed)."""
        return _load_features(self.path(key), key, dims, 0, key.num_images, {"complete": 1})

    def store(self, key: CacheKey, features: Features) -> None:
        """Write a complete entry atomically (CacheUnusable when it cannot be written)."""
        _write_features(self.path(key), key, features, 0, {"complete": 1})

    def radii_path(self, key: CacheKey, k: int, arithmetic: str) -> Path:
        return self.root / "radii" / f"{key.digest()}-k{k}-{arithmetic}.h5"

    def load_radii(self, key: CacheKey, k: int, arithmetic: str) -> np.ndarray | None:
        """Verified cached k-NN radii of the features under `key` (None when absent; a mismatching file is removed)."""
        path = self.radii_path(key, k, arithmetic)
        if not _entry_exists(path):
            return None
        try:
            with _open_verified(path) as f:
                if not _attrs_match(f, key) or int(f.attrs["k"]) != k or _text(f.attrs["arithmetic"]) != arithmetic:
                    raise ValueError("identity mismatch")
                radii = f["radii"][...]
                digest = _text(f.attrs["radii_sha256"])
            if radii.dtype != np.float32 or radii.shape != (key.num_images,) or arrays_sha256([radii]) != digest:
                raise ValueError("bad radii")
            if not np.isfinite(radii).all() or (radii < 0).any():
                raise ValueError("bad radii")
            return radii
        except Exception:  # never trusted when anything is off: recomputed
            _remove(path)
            return None

    def store_radii(self, key: CacheKey, k: int, arithmetic: str, radii: np.ndarray) -> None:
        """Write the radii atomically (CacheUnusable when they cannot be written)."""
        radii = np.asarray(radii, dtype=np.float32)
        attrs = {**key.attrs(), "k": k, "arithmetic": arithmetic, "radii_sha256": arrays_sha256([radii]),
                 "admbench_version": __version__}  # fmt: skip
        _write_h5(self.radii_path(key, k, arithmetic), {"radii": radii}, attrs)


class PartialFeatures:
    """Checkpoints of the features extracted so far, one verified file per checkpoint; resumes a killed extraction.

    `checkpointed` holds the features of images [0, done): those read back from earlier checkpoints that pass every
    check (the first one that does not, and all after it, are deleted), then those appended. The directory grows
    with the checkpoints written, never with what an archive's headers claim.
    """

    def __init__(self, cache: FeatureCache, key: CacheKey, dims: tuple[int, int, int]) -> None:
        self._dir = cache.partial_dir(key)
        self._key = key
        self._dims = dims
        if self._dir.exists() and not self._dir.is_dir():
            raise CacheUnusable(f"{self._dir}: exists and is not a checkpoint directory")
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheUnusable(f"{self._dir}: cannot create ({exc.strerror or exc})") from exc
        self.checkpointed = self._read_back()

    @property
    def done(self) -> int:
        return sum(len(f) for f in self.checkpointed)

    def _chunks(self) -> list[tuple[int, int, Path]]:
        found = []
        for path in self._dir.iterdir():
            match = _CHUNK_NAME.fullmatch(path.name)
            if match:
                found.append((int(match[1]), int(match[2]), path))
        return sorted(found)

    def _read_back(self) -> list[Features]:
        parts: list[Features] = []
        done = 0
        chunks = self._chunks()
        for i, (start, stop, path) in enumerate(chunks):
            features = None
            if start == done and done < stop <= self._key.num_images:
                features = _load_features(path, self._key, self._dims, start, stop, {})
            if features is None:  # a gap or a damaged checkpoint: everything from here on is extracted again
                for _, _, later in chunks[i:]:
                    _remove(later)
                break
            parts.append(features)
            done = stop
        return parts

    def append(self, features: Features) -> None:
        """Write the features of the next images as a checkpoint (CacheUnusable when it cannot be written)."""
        start = self.done
        stop = start + len(features)
        _write_features(self._dir / f"{start:012d}-{stop:012d}.h5", self._key, features, start, {})
        self.checkpointed.append(features)

    def discard(self) -> None:
        """Remove the checkpoints (after the complete entry is written, or when they must not be resumed)."""
        with contextlib.suppress(OSError):
            leftovers = [path for _, _, path in self._chunks()] + list(self._dir.glob(".*.tmp"))  # .tmp: killed writes
            for path in leftovers:
                path.unlink(missing_ok=True)
            self._dir.rmdir()


def _entry_exists(path: Path) -> bool:
    """Whether an entry is at `path`; something other than a file there makes the cache unusable for it."""
    if not path.exists():
        return False
    if not path.is_file():
        raise CacheUnusable(f"{path}: is not a regular file (remove it to use the cache)")
    return True


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise CacheUnusable(f"{path}: cannot remove an invalid cache entry ({exc.strerror or exc})") from exc


def _load_features(path: Path, key: CacheKey, dims: tuple[int, int, int], start: int, stop: int,
                   expected: dict[str, int]) -> Features | None:  # fmt: skip
    """Rows [start, stop) stored at `path` when every check passes, else None (the file is removed)."""
    if not _entry_exists(path):
        return None
    try:
        with _open_verified(path) as f:
            if not _attrs_match(f, key) or any(int(f.attrs.get(k, -1)) != v for k, v in expected.items()):
                raise ValueError("identity mismatch")
            if int(f.attrs["start"]) != start or int(f.attrs["stop"]) != stop:
                raise ValueError("other rows")
            arrays = [f[kind][...] for kind in _KINDS]
            digest = _text(f.attrs["features_sha256"])
        for kind, dim, arr in zip(_KINDS, dims, arrays):
            if arr.dtype != np.float32 or arr.shape != (stop - start, dim) or not np.isfinite(arr).all():
                raise ValueError(f"bad {kind} array")
        if arrays_sha256(arrays) != digest:
            raise ValueError("features differ from their stored SHA-256")
        return Features(*arrays)
    except Exception:  # corrupt HDF5, missing datasets, wrong shapes, flipped bytes: never trusted, rebuilt
        _remove(path)
        return None


def _write_features(path: Path, key: CacheKey, features: Features, start: int, extra: dict[str, int]) -> None:
    arrays = {kind: np.ascontiguousarray(getattr(features, kind), dtype=np.float32) for kind in _KINDS}
    attrs = {**key.attrs(), **extra, "start": start, "stop": start + len(features),
             "features_sha256": arrays_sha256(arrays.values()), "admbench_version": __version__}  # fmt: skip
    _write_h5(path, arrays, attrs)


@contextlib.contextmanager
def _open_verified(path: Path) -> Iterator[h5py.File]:
    """The HDF5 file at `path`, opened only after the SHA-256 in its user block matches the rest of the file
    (ValueError otherwise). HDF5 reads the same open file that was hashed, so a later rename cannot swap it."""
    with open(path, "rb") as fh:
        header = _HEADER.fullmatch(fh.read(_USERBLOCK))
        if header is None:
            raise ValueError("no admbench checksum in the HDF5 user block")
        digest = hashlib.sha256()
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
        if digest.hexdigest() != header[1].decode():
            raise ValueError("file differs from its stored SHA-256")
        fh.seek(0)
        with h5py.File(fh, "r") as f:
            yield f


def _write_h5(path: Path, arrays: dict[str, np.ndarray], attrs: dict[str, object]) -> None:
    """Build the HDF5 file in memory with its checksum in the user block, then write it atomically;
    CacheUnusable when the write fails."""
    image = io.BytesIO()
    with h5py.File(image, "w", userblock_size=_USERBLOCK) as f:
        for name, array in arrays.items():
            f.create_dataset(name, data=array)
        f.attrs.update(attrs)
    data = image.getbuffer()
    header = _MAGIC + hashlib.sha256(data[_USERBLOCK:]).hexdigest().encode() + b"\n"
    data[: len(header)] = header  # h5py leaves the user block zero-filled
    try:  # a directory in the way fails the final rename: also an OSError
        with atomic_write(path) as out:
            out.write(data)
    except OSError as exc:
        raise CacheUnusable(f"{path}: cannot write the cache ({exc.strerror or exc})") from exc


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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
