"""`manifest.json` next to reference files: one entry per file name with its sha256 and provenance.

Layout: {"format": 1, "files": {"<file name>": {"sha256": ..., "kind": ..., ...}}}. The committed manifest
lives in the repository's `reference_stats/`; files written elsewhere get a manifest in their own folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.errors import InputError
from benchmark.io.atomic import sha256_file, write_json_atomic
from benchmark.io.json_input import read_json

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "reference_stats"
MANIFEST_NAME = "manifest.json"
FORMAT = 1


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of `directory` (an empty one if the file does not exist yet)."""
    path = Path(directory) / MANIFEST_NAME
    if not path.exists():
        return {"format": FORMAT, "files": {}}
    manifest = read_json(path, "manifest")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise InputError("manifest has no 'files' object", path)
    return manifest


def manifest_entry(path: str | Path) -> dict[str, Any] | None:
    """The manifest entry of a file (looked up by name in its folder's manifest), or None."""
    path = Path(path)
    return read_manifest(path.parent)["files"].get(path.name)


def record_file(path: str | Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Add or replace the entry of `path` (with its current sha256) in its folder's manifest, atomically."""
    path = Path(path)
    manifest = read_manifest(path.parent)
    full = {**entry, "sha256": sha256_file(path)}
    manifest["files"][path.name] = full
    write_json_atomic(path.parent / MANIFEST_NAME, manifest)
    return full


def verify_against_manifest(path: str | Path) -> str:
    """sha256 of `path` after checking it against its manifest entry; InputError on a mismatch or a missing entry."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    entry = manifest_entry(path)
    if entry is None or "sha256" not in entry:
        raise InputError(f"no sha256 for {path.name} in {path.parent / MANIFEST_NAME}; cannot verify it", path)
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        raise InputError(f"sha256 {actual} does not match the manifest's {entry['sha256']} (modified or corrupt)", path)
    return actual
