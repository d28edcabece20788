"""Streaming reader for image archives in the paper's format (`.npz` with `arr_0` uint8 NHWC, optional `arr_1`).

Images are read batch by batch straight from the zip member (stored or deflated) after parsing the `.npy`
header (format versions 1, 2 and 3), so peak memory is one batch, whatever the number of images.
"""

from __future__ import annotations

import ast
import hashlib
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.errors import InputError
from benchmark.io.inputs import require_regular_file

_MAGIC = b"\x93NUMPY"
# What zipfile / zlib raise on damaged archives: bad CRC or headers, odd flags (encryption, unknown compression).
_ZIP_ERRORS = (
    zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError, ValueError,
    struct.error, UnicodeDecodeError, KeyError, IndexError, OverflowError,
)
STAT_KEYS = ("mu", "sigma", "mu_s", "sigma_s")


# numpy.lib.format refuses headers longer than this (its `max_header_size` default); checked before reading.
MAX_HEADER_SIZE = 10000
_HEADER_KEYS = frozenset({"descr", "fortran_order", "shape"})
# Deflate expands at most ~1032:1, so a deflated member stating more bytes than this lies about its size.
DEFLATE_MAX_RATIO = 1032
# The largest small member (statistics, labels) read into memory: sigma of 2048 float64 dims is 32 MiB.
MAX_SMALL_ARRAY_BYTES = 1 << 30


@dataclass(frozen=True)
class NpyHeader:
    version: tuple[int, int]
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    data_offset: int

    @property
    def nbytes(self) -> int:
        """Data bytes the header declares (exact integer arithmetic, no overflow)."""
        return math.prod(self.shape) * self.dtype.itemsize


def _header_dict(text: str, path: str | Path, member: str) -> dict:
    """The header's dict literal with numpy's checks: exactly descr / fortran_order / shape, integer shape."""
    try:
        header = ast.literal_eval(text)
    except Exception as exc:  # SyntaxError, ValueError, MemoryError, RecursionError on hostile literals
        raise InputError(f"member {member} has a malformed .npy header ({type(exc).__name__})", path) from None
    if not isinstance(header, dict):
        raise InputError(f"member {member} has a malformed .npy header (not a dict)", path)
    if header.keys() != _HEADER_KEYS:
        keys = ", ".join(sorted(map(repr, header.keys())))
        raise InputError(f"member {member} has .npy header keys {keys:.120}; expected 'descr', 'fortran_order', 'shape'",
                         path)  # fmt: skip
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(s, int) and not isinstance(s, bool) for s in shape):
        raise InputError(f"member {member} has an invalid .npy shape {shape!r:.80} (expected a tuple of integers)", path)
    if not isinstance(header["fortran_order"], bool):
        raise InputError(f"member {member} has an invalid .npy fortran_order {header['fortran_order']!r:.40}", path)
    return header


def parse_npy_header(f, path: str | Path, member: str) -> NpyHeader:
    """Parse the header of a `.npy` stream positioned at its start (versions 1.0, 2.0, 3.0).

    The header length is bounded by MAX_HEADER_SIZE before it is read; the dict must hold exactly numpy's keys,
    an integer shape and a plain (non-object) dtype.
    """
    magic = f.read(8)
    if len(magic) < 8 or magic[:6] != _MAGIC:
        raise InputError(f"member {member} is not a .npy array (bad magic)", path)
    version = (magic[6], magic[7])
    if version == (1, 0):
        raw = f.read(2)
        if len(raw) < 2:
            raise InputError(f"member {member} has a truncated .npy header", path)
        (hlen,) = struct.unpack("<H", raw)
        offset = 10
    elif version in ((2, 0), (3, 0)):
        raw = f.read(4)
        if len(raw) < 4:
            raise InputError(f"member {member} has a truncated .npy header", path)
        (hlen,) = struct.unpack("<I", raw)
        offset = 12
    else:
        raise InputError(f"member {member} has unsupported .npy format version {version}", path)
    if hlen > MAX_HEADER_SIZE:
        raise InputError(f"member {member} declares a .npy header of {hlen} bytes (at most {MAX_HEADER_SIZE})", path)
    text_bytes = f.read(hlen)
    if len(text_bytes) < hlen:
        raise InputError(f"member {member} has a truncated .npy header", path)
    try:
        text = text_bytes.decode("utf-8" if version == (3, 0) else "latin1")
    except UnicodeDecodeError:
        raise InputError(f"member {member} has a .npy header that is not UTF-8", path) from None
    header = _header_dict(text, path, member)
    try:
        dtype = np.lib.format.descr_to_dtype(header["descr"])
    except Exception as exc:  # unknown or malformed dtype descriptor
        raise InputError(f"member {member} has an invalid .npy dtype {header['descr']!r:.80} ({type(exc).__name__})",
                         path) from None  # fmt: skip
    if dtype.hasobject:
        raise InputError(f"member {member} holds pickled Python objects (dtype {dtype}); refused", path)
    shape = header["shape"]
    if any(s < 0 for s in shape):
        raise InputError(f"member {member} has a negative dimension in shape {shape}", path)
    return NpyHeader(version, shape, dtype, header["fortran_order"], offset + hlen)


def _check_member_size(member: zipfile.ZipInfo, header: NpyHeader, path: Path, archive_size: int) -> None:
    """The zip member's stated sizes must fit the header and what its compressed bytes can expand to."""
    name = member.filename
    if member.file_size != header.data_offset + header.nbytes:
        raise InputError(
            f"member {name} is {member.file_size} bytes, its header promises {header.data_offset + header.nbytes} "
            f"(shape {header.shape}, dtype {header.dtype}; truncated or corrupt archive)",
            path,
        )
    if member.compress_size > archive_size:
        raise InputError(f"member {name} claims {member.compress_size} compressed bytes, more than the whole file "
                         f"({archive_size} bytes)", path)  # fmt: skip
    if member.compress_type == zipfile.ZIP_STORED:
        if member.file_size != member.compress_size:
            raise InputError(f"member {name} is stored uncompressed but states {member.file_size} bytes of data in "
                             f"{member.compress_size} bytes (corrupt archive)", path)  # fmt: skip
    elif member.compress_type == zipfile.ZIP_DEFLATED:
        if member.file_size > DEFLATE_MAX_RATIO * member.compress_size + 1024:
            raise InputError(f"member {name} claims {member.file_size} bytes from {member.compress_size} deflated "
                             "bytes, more than deflate can expand (corrupt archive)", path)  # fmt: skip
    else:
        raise InputError(f"member {name} uses zip compression method {member.compress_type}; .npz archives are "
                         "stored or deflated (np.savez, np.savez_compressed)", path)  # fmt: skip


@dataclass(frozen=True)
class ArchiveInfo:
    """What an archive holds, read from its headers only."""

    path: Path
    num_images: int
    height: int
    width: int
    channels: int
    has_labels: bool
    stored_stat_keys: tuple[str, ...]
    fast_key: str  # sha256 over the zip members' CRC32 / sizes and the arr_0 header: the cache lookup key


def _open_zip(path: Path) -> zipfile.ZipFile:
    """Open an archive that os.stat says is a regular file (FIFOs and devices are never opened)."""
    require_regular_file(path, "an .npz archive")
    try:
        return zipfile.ZipFile(path, "r")
    except PermissionError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", path) from exc
    except _ZIP_ERRORS as exc:
        raise InputError("not a zip/.npz archive (or truncated: no valid zip directory found)", path) from exc


def _archive_size(zf: zipfile.ZipFile) -> int:
    return os.fstat(zf.fp.fileno()).st_size  # type: ignore[union-attr]


def _member_header(zf: zipfile.ZipFile, path: Path, key: str) -> NpyHeader:
    """The header of member `key`.npy, its declared size checked against the member's stated sizes."""
    try:
        member = zf.getinfo(f"{key}.npy")
        with zf.open(member) as f:
            header = parse_npy_header(f, path, f"{key}.npy")
        _check_member_size(member, header, path, _archive_size(zf))
        return header
    except InputError:
        raise
    except _ZIP_ERRORS as exc:
        raise InputError(f"member {key}.npy is corrupt or truncated ({exc})", path) from exc


def inspect_archive(path: str | Path) -> ArchiveInfo:
    """Validate an image archive's structure from its headers (no image data is read)."""
    path = Path(path)
    try:
        return _inspect(path)
    except InputError:
        raise
    except _ZIP_ERRORS as exc:
        raise InputError(f"damaged archive ({type(exc).__name__}: {exc})", path) from exc


def _inspect(path: Path) -> ArchiveInfo:
    with _open_zip(path) as zf:
        names = set(zf.namelist())
        if "arr_0.npy" not in names:
            found = ", ".join(sorted(n.removesuffix(".npy") for n in names)) or "nothing"
            raise InputError(f"no arr_0 array (found: {found})", path)
        header = _member_header(zf, path, "arr_0")
        if header.dtype != np.uint8:
            raise InputError(
                f"arr_0 has dtype {header.dtype}, expected uint8 images in [0, 255] "
                "(quantise float samples first: ((x + 1) * 127.5).clip(0, 255).astype(np.uint8))",
                path,
            )
        if len(header.shape) != 4:
            raise InputError(f"arr_0 has shape {header.shape}, expected 4 dimensions [N, H, W, C]", path)
        n, h, w, c = header.shape
        if c not in (1, 3):
            hint = " (looks like NCHW; the paper's format is NHWC)" if h in (1, 3) else ""
            raise InputError(f"arr_0 has {c} channels in shape {header.shape}, expected 1 or 3{hint}", path)
        if n == 0:
            raise InputError("arr_0 holds no images", path)
        if h == 0 or w == 0:
            raise InputError(f"arr_0 has empty images of shape {header.shape}", path)
        if header.fortran_order:
            raise InputError("arr_0 is stored in Fortran order; re-save it with np.savez (C order)", path)
        key = hashlib.sha256()
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            key.update(f"{info.filename}:{info.CRC:08x}:{info.file_size};".encode())
        key.update(repr((header.shape, header.dtype.str)).encode())
        stat_keys = tuple(k for k in STAT_KEYS if f"{k}.npy" in names)
        return ArchiveInfo(path, n, h, w, c, "arr_1.npy" in names, stat_keys, key.hexdigest())


def iter_image_batches(
    path: str | Path, batch_size: int, start: int = 0, stop: int | None = None
) -> Iterator[np.ndarray]:
    """Yield uint8 NHWC batches of images [start, stop) streamed from `arr_0` (stored or deflated member).

    Skipping to `start` reads and discards the bytes before it (zip members are not seekable when deflated).
    """
    path = Path(path)
    info = inspect_archive(path)
    stop = info.num_images if stop is None else min(stop, info.num_images)
    per_image = info.height * info.width * info.channels
    with _open_zip(path) as zf:
        try:
            with zf.open("arr_0.npy") as f:
                header = parse_npy_header(f, path, "arr_0.npy")
                _skip(f, start * per_image)
                index = start
                while index < stop:
                    count = min(batch_size, stop - index)
                    batch = np.empty((count, *header.shape[1:]), dtype=np.uint8)
                    got = _read_into(f, memoryview(batch).cast("B"))
                    if got != count * per_image:
                        raise InputError(f"arr_0 ends after {index + got // per_image} images (truncated)", path)
                    yield batch
                    index += count
        except InputError:
            raise
        except _ZIP_ERRORS as exc:
            raise InputError(f"arr_0 data is corrupt or truncated ({exc})", path) from exc


def _skip(f, nbytes: int) -> None:
    while nbytes > 0:
        chunk = f.read(min(nbytes, 1 << 24))
        if not chunk:
            break
        nbytes -= len(chunk)


def _read_into(f, buffer: memoryview) -> int:
    """Fill `buffer` from the stream (one copy, straight into the batch array); returns the bytes read."""
    done = 0
    while done < len(buffer):
        n = f.readinto(buffer[done:])
        if not n:
            break
        done += n
    return done


def member_header(path: str | Path, key: str) -> NpyHeader:
    """The validated header of member `key` (shape, dtype), without reading its data."""
    path = Path(path)
    with _open_zip(path) as zf:
        if f"{key}.npy" not in zf.namelist():
            raise InputError(f"no {key} array", path)
        return _member_header(zf, path, key)


def read_small_array(path: str | Path, key: str, max_bytes: int = MAX_SMALL_ARRAY_BYTES) -> np.ndarray:
    """Load one small member (statistics, labels) fully, without pickles.

    Nothing is allocated before the header's declared size is checked against the zip member's stated size,
    what its compressed bytes can expand to, and `max_bytes`.
    """
    path = Path(path)
    name = f"{key}.npy"
    with _open_zip(path) as zf:
        if name not in zf.namelist():
            raise InputError(f"no {key} array", path)
        try:
            member = zf.getinfo(name)
            with zf.open(member) as f:
                header = parse_npy_header(f, path, name)
                _check_member_size(member, header, path, _archive_size(zf))
                if header.nbytes > max_bytes:
                    raise InputError(f"member {name} declares {header.nbytes} bytes (shape {header.shape}), more "
                                     f"than the {max_bytes} a {key} array may take", path)  # fmt: skip
                data = np.empty(header.nbytes, dtype=np.uint8)
                got = _read_into(f, memoryview(data))
                if got != header.nbytes or f.read(1):  # the extra read also makes zipfile check the CRC
                    raise InputError(f"member {name} has {got} data bytes, its header declares {header.nbytes}", path)
            order = "F" if header.fortran_order else "C"
            return data.view(header.dtype).reshape(header.shape, order=order)
        except InputError:
            raise
        except _ZIP_ERRORS as exc:
            raise InputError(f"member {name} is unreadable ({exc})", path) from exc


def read_labels(path: str | Path) -> np.ndarray | None:
    """`arr_1` class labels when present."""
    info = inspect_archive(path)
    if not info.has_labels:
        return None
    labels = read_small_array(path, "arr_1")
    if labels.ndim != 1 or len(labels) != info.num_images or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"arr_1 must hold {info.num_images} integer labels, got {labels.dtype} {labels.shape}", path)
    return labels
