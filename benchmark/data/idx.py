"""Decoder for the idx format of MNIST / Fashion-MNIST (big-endian header, then raw row-major data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.errors import InputError

# The third magic byte names the element type; admbench only needs unsigned bytes (0x08).
_UBYTE = 0x08


def decode_idx(data: bytes, path: str | Path | None = None, expected_ndim: int | None = None) -> np.ndarray:
    """Decode an uncompressed idx buffer into a uint8 array of the shape its header declares.

    Header: two zero bytes, a type byte (0x08 = ubyte), a rank byte, then one big-endian uint32 per dimension.
    Raises InputError (naming `path`) on a bad magic, an unexpected rank or a payload of the wrong length.
    """
    if len(data) < 4:
        raise InputError(f"idx file too short ({len(data)} bytes) for a header", path)
    if data[0] != 0 or data[1] != 0:
        raise InputError(f"bad idx magic {data[:4].hex()}: the first two bytes must be zero", path)
    if data[2] != _UBYTE:
        raise InputError(f"idx element type 0x{data[2]:02x} is not supported (only 0x08 unsigned byte)", path)
    ndim = data[3]
    if ndim < 1 or (expected_ndim is not None and ndim != expected_ndim):
        expected = "at least 1" if expected_ndim is None else str(expected_ndim)
        raise InputError(f"idx file has {ndim} dimensions, expected {expected}", path)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InputError(f"idx header declares {ndim} dimensions but the file ends after {len(data)} bytes", path)
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected_size = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != expected_size:
        raise InputError(
            f"idx payload is {len(data) - header} bytes but the header shape {shape} needs {expected_size}", path
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def encode_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an uncompressed idx buffer (used to write test fixtures)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _UBYTE, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()
