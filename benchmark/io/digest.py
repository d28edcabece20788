"""Content hashes: SHA-256 of a file's bytes (streamed through one fixed buffer) and of numpy arrays.

SHA-256 rather than a faster hash because it needs nothing beyond the standard library, OpenSSL computes it with
the CPU's SHA extensions where present (about 1.4 GB/s on one core), and a recorded value can be checked with
`sha256sum` on any machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from benchmark.errors import InputError

CHUNK_BYTES = 8 << 20  # the one read buffer: memory stays bounded whatever the file size


def file_sha256(path: str | Path, advance: Callable[[int], None] | None = None) -> str:
    """SHA-256 hex digest of the bytes of `path`; `advance` receives the byte count of each chunk read.

    A file that cannot be read (permissions, I/O errors of a failing disk) is the user's InputError.
    """
    path = Path(path)
    h = hashlib.sha256()
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    try:
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(view):
                h.update(view[:n])
                if advance is not None:
                    advance(n)
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", path) from exc
    return h.hexdigest()


def arrays_sha256(arrays: Iterable[np.ndarray]) -> str:
    """SHA-256 over each array's dtype, shape and C-order bytes, in the order given."""
    h = hashlib.sha256()
    for array in arrays:
        contiguous = np.ascontiguousarray(array)
        h.update(f"{contiguous.dtype.str}{contiguous.shape};".encode())
        h.update(memoryview(contiguous).cast("B"))
    return h.hexdigest()
