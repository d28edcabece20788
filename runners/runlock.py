"""One writer at a time: an exclusive `fcntl.flock` on a lock file inside the run directory.

Training holds `<run>/train.lock`; sampling holds `<run>/samples/<tag>.lock` (paths: runners.rundir), so a run
can be sampled at an earlier milestone while it trains on, but two trainers, or two samplers of the same archive,
never share a directory. The kernel drops the lock when its process ends, however it ends; the file itself stays (removing
it would let a third process lock a file nobody else sees). It holds the PID of the last holder, for messages.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from benchmark.errors import InputError


def _holder(fd: int) -> str:
    """'PID <n> (<activity>)' as written by the holder, or 'another process' when it has not written it yet."""
    text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    pid, _, activity = text.partition(" ")
    if not pid.isdigit():
        return "another process"
    return f"PID {pid}" + (f" ({activity})" if activity else "")


@contextlib.contextmanager
def exclusive(lock_path: str | Path, owner: str | Path, activity: str) -> Iterator[None]:
    """Hold the lock file `lock_path` for `activity` while the block runs.

    When another process holds it: InputError "<owner>: is in use by PID <n> (<activity>)". A file system without
    flock support (some network mounts) runs the block unlocked.
    """
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                yield  # no locking on this file system
                return
            raise InputError(f"is in use by {_holder(fd)}; wait for it to finish or stop it, then rerun", owner) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {activity}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
