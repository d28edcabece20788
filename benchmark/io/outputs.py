"""Output paths checked before any work: writable (probed with a temporary file) and never one of the inputs."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from benchmark.errors import InputError
from benchmark.io.inputs import file_kind


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when `a` and `b` name one file: equal resolved paths (symlinks followed) or equal (st_dev, st_ino)."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def refuse_overwrite(output: str | Path, protected: Iterable[str | Path], option: str) -> None:
    """InputError when the output path is (a symlink or hard link to) a file the command reads or writes itself."""
    for path in protected:
        if same_file(output, path):
            raise InputError(f"{option} names {path}, a file this command reads or writes; choose another path", output)


def _missing_parents(directory: Path, label: str | Path) -> list[Path]:
    """`directory` and its ancestors that do not exist yet, outermost first; InputError if one is not a directory."""
    missing: list[Path] = []
    current = directory
    while True:
        try:
            st = os.stat(current)
        except (FileNotFoundError, NotADirectoryError):  # missing, or under a file: look further up
            missing.append(current)
            if current.parent == current:
                break
            current = current.parent
            continue
        except OSError as exc:
            raise InputError(f"cannot create files in {current} ({exc.strerror or exc})", label) from None
        if not stat.S_ISDIR(st.st_mode):
            raise InputError(f"cannot write under {current}: it is {file_kind(st.st_mode)}, not a directory", label)
        break
    return missing[::-1]


def probe_writable_directory(directory: str | Path, name: str | Path | None = None, attempts: int = 3,
                             what: str | None = None) -> None:
    """Create `directory` (and missing parents) and a temporary file in it, then remove all of them again.

    InputError naming `name` (default: the directory) when that fails, so a run never ends on an unwritable path.
    Concurrent probes of one folder (torchrun ranks) are tolerated: a folder made by another process is used, and
    one that another probe removed meanwhile is retried.
    """
    directory = Path(directory)
    label = directory if name is None else name
    try:
        _probe(directory, label, attempts)
    except InputError as exc:
        if what is None:
            raise
        raise InputError(f"{what}: {exc.message}", label) from None


def _probe(directory: Path, label: str | Path, attempts: int) -> None:
    for attempt in range(attempts):
        created: list[Path] = []
        try:
            for path in _missing_parents(directory, label):
                try:
                    path.mkdir()
                except FileExistsError:
                    continue  # made meanwhile by another process
                created.append(path)
            fd, tmp = tempfile.mkstemp(prefix=".write-probe.", suffix=".tmp", dir=directory)
            os.close(fd)
            os.unlink(tmp)
            return
        except FileNotFoundError as exc:
            if attempt == attempts - 1:
                raise InputError(f"cannot write in {directory} ({exc.strerror or exc})", label) from None
        except OSError as exc:
            raise InputError(f"cannot write in {directory} ({exc.strerror or exc})", label) from None
        finally:
            for path in reversed(created):
                with contextlib.suppress(OSError):
                    path.rmdir()


def check_output_file(path: str | Path, option: str) -> None:
    """An output file must be a regular file if it exists, in a directory where files can be created."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        st = None  # a parent is a file: the probe below says so
    except OSError as exc:
        raise InputError(f"{option}: cannot access ({exc.strerror or exc})", path) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InputError(f"{option} is {file_kind(st.st_mode)}; it must name a regular file", path)
    probe_writable_directory(path.parent, path)


def check_writable_dir(path: str | Path, what: str) -> None:
    """`probe_writable_directory` for a directory an option or a runner names: the error names `what` too."""
    probe_writable_directory(path, path, what=what)
