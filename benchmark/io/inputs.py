"""What an input path is, checked with os.stat before anything opens it (a FIFO would block, /dev/zero never ends)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from benchmark.errors import InputError

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """'a regular file', 'a directory', 'a FIFO (named pipe)', ... for an st_mode."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def stat_input(path: str | Path) -> os.stat_result:
    """os.stat of an input (following symlinks); InputError when it does not exist or cannot be looked at."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except NotADirectoryError:
        raise InputError("file not found (a parent is not a directory)", path) from None
    except OSError as exc:
        raise InputError(f"cannot access ({exc.strerror or exc})", path) from None


def require_regular_file(path: str | Path, expected: str = "a file") -> os.stat_result:
    """Refuse anything but an existing regular file (after symlinks), without opening it."""
    st = stat_input(path)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"is {file_kind(st.st_mode)}, expected {expected} (a regular file)", path)
    return st


def require_file_or_directory(path: str | Path, expected: str) -> os.stat_result:
    """Refuse anything but a regular file or a directory (FIFOs and devices are never opened)."""
    st = stat_input(path)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise InputError(f"is {file_kind(st.st_mode)}, expected {expected}", path)
    return st
