"""Check that an output directory can be written before any work starts (and before anything is left behind)."""

from __future__ import annotations

from pathlib import Path

from benchmark.io.outputs import probe_writable_directory


def check_writable_dir(path: str | Path, what: str) -> None:
    """InputError naming `what` and the blocking path unless `path` is, or can be made, a writable directory.

    The one check is `outputs.probe_writable_directory` (missing folders and a temporary file are made and removed
    again; permission bits alone do not tell: root passes them on read-only file systems).
    """
    probe_writable_directory(path, path, what=what)
