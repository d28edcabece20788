"""Atomic file writes (temp file in the same directory, fsync, rename) and content hashing."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO


def _default_mode() -> int:
    """Permissions a plain open() would give a new file (0o666 minus the umask); mkstemp uses 0o600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[BinaryIO]:
    """Open a temporary file next to `path`; on success it is fsynced and renamed onto `path`.

    On any exception (including KeyboardInterrupt and a full disk) the temporary file is removed and
    `path` is left untouched, so readers never see a half-written file.
    """
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        yield f  # type: ignore[misc]


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to `path`: the one atomic-write primitive (`atomic_write` opens it; h5py,
    np.savez and torch.save, which want a file name, use it directly).

    The temporary file is renamed onto `path` when the block succeeds and deleted when it fails.
    `suffix` keeps an extension some libraries insist on (np.savez appends `.npz` otherwise).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_write(path, "wb") as f:
        f.write(text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write `obj` as indented, key-sorted JSON atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()
