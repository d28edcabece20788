"""Resumable, verified downloads: `.part` file with HTTP Range resume, size + checksum check, atomic rename."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import InputError


@dataclass(frozen=True)
class RemoteFile:
    """A published artifact: where it lives and how to recognise it (any checksum may be None if unpublished)."""

    url: str
    filename: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None


def _digests(path: Path) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def verify_file(path: str | Path, remote: RemoteFile) -> str:
    """Check size and checksums of a local copy; return its sha256. Raises InputError naming the mismatch."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        raise InputError(f"size {size} bytes, expected {remote.size} (truncated or wrong file)", path)
    sha, md5 = _digests(path)
    if remote.sha256 is not None and sha != remote.sha256:
        raise InputError(f"sha256 {sha} does not match the published {remote.sha256}", path)
    if remote.md5 is not None and md5 != remote.md5:
        raise InputError(f"md5 {md5} does not match the published {remote.md5}", path)
    return sha


def download(
    remote: RemoteFile,
    dest_dir: str | Path,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download `remote` into `dest_dir` and return the final path.

    Bytes go to `<name>.part`; an interrupted download resumes from its length with an HTTP Range request.
    The finished file is verified (size, sha256, md5 where published) before it is renamed into place, so
    the final name only ever holds a complete, verified file. An existing verified file is reused.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / remote.filename
    if final.exists():
        verify_file(final, remote)
        return final
    part = final.with_name(final.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(remote.url, headers={"User-Agent": "admbench"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if have and response.status != 206:  # server ignored the range: start over
                have = 0
            total = response.headers.get("Content-Length")
            total_size = (int(total) + have) if total is not None else remote.size
            with open(part, "ab" if have else "wb") as f:
                done = have
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total_size)
                f.flush()
                os.fsync(f.fileno())
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        raise InputError(
            f"download of {remote.url} failed ({exc}); rerun to resume, or place the file there by hand", final
        ) from exc
    try:
        verify_file(part, remote)
    except InputError:
        part.unlink(missing_ok=True)  # a corrupt partial file must not be resumed
        raise
    os.replace(part, final)
    return final
