"""Edit a cache file below admbench, the way a forger who knows its format would."""

from __future__ import annotations

import hashlib
from pathlib import Path


def reseal(path: Path) -> None:
    """Write a valid checksum for the file's current bytes into its HDF5 user block."""
    data = bytearray(path.read_bytes())
    header = b"admbench-cache sha256 " + hashlib.sha256(data[512:]).hexdigest().encode() + b"\n"
    data[:512] = header.ljust(512, b"\0")
    path.write_bytes(bytes(data))
