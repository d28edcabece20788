"""Check that an output directory can be written before any work starts (and before anything is created)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmark.errors import InputError


def nearest_existing(path: Path) -> Path:
    """`path` itself when it exists, else its closest existing ancestor."""
    path = Path(os.path.abspath(path))
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def check_writable_dir(path: str | Path, what: str) -> None:
    """InputError (naming `what` and the blocking path) unless `path` is, or can be made, a writable directory.

    Nothing is left behind: the closest existing ancestor must be a directory, and a probe directory is made
    in it and removed at once (permission bits alone do not tell: root passes them on read-only file systems).
    """
    path = Path(path)
    existing = nearest_existing(path)
    if not existing.is_dir():
        where = "is" if existing == Path(os.path.abspath(path)) else f"would lie under {existing}, which is"
        raise InputError(f"{what} {where} not a directory", path)
    try:
        probe = tempfile.mkdtemp(prefix=".admbench-write-check-", dir=existing)
    except OSError as err:
        raise InputError(f"{what}: cannot write in {existing} ({err.strerror or err})", path) from None
    os.rmdir(probe)
