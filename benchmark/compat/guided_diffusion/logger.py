"""Drop-in guided_diffusion.logger (the part its scripts use): configure, log, logkv, logkv_mean, dumpkvs, get_dir.

The reference API is module-level functions over one process-wide "current logger" (`logger.configure()` once,
then `logger.logkv(...)` from anywhere, including the training loop). That API forces exactly one piece of
module state: `_CURRENT`, a small holder of the active `Logger`. Everything else lives in `Logger` objects, which
code that does not need the drop-in API can create and pass around explicitly.

Same conventions as the reference: the directory is `dir`, else $OPENAI_LOGDIR, else
`<tmp>/openai-<timestamp>`; formats come from $OPENAI_LOG_FORMAT (default "stdout,log,csv") on rank 0 and from
$OPENAI_LOG_FORMAT_MPI (default "log") on other ranks, whose files get a "-rankNNN" suffix. Files: log.txt (human
lines and key/value tables), progress.csv, progress.json (one JSON object per dump). The "tensorboard" format and
MPI averaging (`comm=`) are not supported. log.txt and progress.json are append-only streams flushed per write;
progress.csv is appended row by row and rewritten atomically when a new column appears.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

import torch.distributed as dist

from benchmark.errors import InputError
from benchmark.io.atomic import write_text_atomic

__all__ = [
    "DEBUG", "DISABLED", "ERROR", "INFO", "WARN", "Logger", "configure", "debug", "dumpkvs", "error", "get_current",
    "get_dir", "getkvs", "info", "log", "logkv", "logkv_mean", "logkvs", "scoped_configure", "set_level", "warn",
]  # fmt: skip

DEBUG = 10
INFO = 20
WARN = 30
ERROR = 40
DISABLED = 50

FORMATS = ("stdout", "log", "csv", "json")
_MAX_CELL = 30


class OutputFormat(Protocol):
    """One destination: key/value dumps and/or free-text lines."""

    def writekvs(self, kvs: Mapping[str, Any]) -> None: ...
    def writeseq(self, seq: Sequence[str]) -> None: ...
    def close(self) -> None: ...


#----------------------------------------------------------------------------
# Output formats.


def _cell(text: str) -> str:
    return text[: _MAX_CELL - 3] + "..." if len(text) > _MAX_CELL else text


def format_table(kvs: Mapping[str, Any]) -> str:
    """The human-readable key/value table (keys sorted case-insensitively, numbers as %-8.3g, cells <= 30 chars)."""
    cells = {}
    for key, value in kvs.items():
        text = "%-8.3g" % value if hasattr(value, "__float__") else str(value)
        cells[_cell(str(key))] = _cell(text)
    key_width = max(len(k) for k in cells)
    value_width = max(len(v) for v in cells.values())
    border = "-" * (key_width + value_width + 7)
    rows = [f"| {k.ljust(key_width)} | {cells[k].ljust(value_width)} |" for k in sorted(cells, key=str.lower)]
    return "\n".join([border, *rows, border]) + "\n"


class HumanOutput:
    """Tables and log lines to a text stream (stdout) or an append-only file (log.txt)."""

    def __init__(self, target: TextIO | Path) -> None:
        if isinstance(target, Path):
            self._file: TextIO = open(target, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())
            self._owned = True
        else:
            self._file = target
            self._owned = False

    def writekvs(self, kvs: Mapping[str, Any]) -> None:
        if not kvs:
            return  # the reference prints a warning for an empty dump and writes nothing
        self._file.write(format_table(kvs))
        self._file.flush()

    def writeseq(self, seq: Sequence[str]) -> None:
        self._file.write(" ".join(seq) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._owned:
            self._file.close()


class JSONOutput:
    """One JSON object per dump, appended to progress.json (numpy/torch scalars become floats)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())

    def writekvs(self, kvs: Mapping[str, Any]) -> None:
        row = {k: float(v) if hasattr(v, "dtype") else v for k, v in sorted(kvs.items())}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()

    def writeseq(self, seq: Sequence[str]) -> None:
        pass

    def close(self) -> None:
        self._file.close()


class CSVOutput:
    """progress.csv: columns in first-seen order (new ones sorted, appended); missing values are empty cells."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._keys: list[str] = []
        self._rows: int = 0

    def _line(self, kvs: Mapping[str, Any]) -> str:
        return ",".join("" if kvs.get(k) is None else str(kvs[k]) for k in self._keys) + "\n"

    def writekvs(self, kvs: Mapping[str, Any]) -> None:
        extra = sorted(set(kvs) - set(self._keys))
        if extra or self._rows == 0:
            # A new column: rewrite the file with the wider header, padding earlier rows.
            old_rows = self._path.read_text(encoding="utf-8").splitlines()[1:] if self._rows else []
            self._keys.extend(extra)
            padded = [row + "," * len(extra) + "\n" for row in old_rows]
            write_text_atomic(self._path, ",".join(self._keys) + "\n" + "".join(padded) + self._line(kvs))
        else:
            with open(self._path, "a", encoding="utf-8") as f:
                f.write(self._line(kvs))
        self._rows += 1

    def writeseq(self, seq: Sequence[str]) -> None:
        pass

    def close(self) -> None:
        pass


def make_output_format(name: str, log_dir: Path, log_suffix: str = "") -> OutputFormat:
    """One of "stdout", "log" (log.txt), "csv" (progress.csv), "json" (progress.json)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    if name == "stdout":
        return HumanOutput(sys.stdout)
    if name == "log":
        return HumanOutput(log_dir / f"log{log_suffix}.txt")
    if name == "csv":
        return CSVOutput(log_dir / f"progress{log_suffix}.csv")
    if name == "json":
        return JSONOutput(log_dir / f"progress{log_suffix}.json")
    raise InputError(f"unknown log format {name!r}; choose from {list(FORMATS)}")


#----------------------------------------------------------------------------
# The logger object.


class Logger:
    """Accumulates key/values for one iteration and writes them to its outputs on dumpkvs()."""

    def __init__(self, dir: str | None, output_formats: Sequence[OutputFormat]) -> None:  # noqa: A002 (reference name)
        self.dir = dir
        self.output_formats = list(output_formats)
        self.level = INFO
        self.name2val: defaultdict[str, Any] = defaultdict(float)
        self.name2cnt: defaultdict[str, int] = defaultdict(int)

    def logkv(self, key: str, val: Any) -> None:
        """Set a diagnostic for this iteration (the last value wins)."""
        self.name2val[key] = val

    def logkv_mean(self, key: str, val: Any) -> None:
        """Running mean of every value logged under `key` this iteration."""
        old, count = self.name2val[key], self.name2cnt[key]
        self.name2val[key] = old * count / (count + 1) + val / (count + 1)
        self.name2cnt[key] = count + 1

    def dumpkvs(self) -> dict[str, Any]:
        """Write this iteration's diagnostics to every output, clear them and return a copy."""
        out = dict(self.name2val)
        for fmt in self.output_formats:
            fmt.writekvs(out)
        self.name2val.clear()
        self.name2cnt.clear()
        return out

    def log(self, *args: Any, level: int = INFO) -> None:
        """Write the arguments, space-separated, to the text outputs when `level` passes the threshold."""
        if level >= self.level:
            for fmt in self.output_formats:
                fmt.writeseq([str(a) for a in args])

    def set_level(self, level: int) -> None:
        self.level = level

    def get_dir(self) -> str | None:
        return self.dir

    def close(self) -> None:
        for fmt in self.output_formats:
            fmt.close()


@dataclass
class _Current:
    """The process-wide active logger the reference's free functions talk to (see the module docstring)."""

    logger: Logger | None = None


_CURRENT = _Current()


#----------------------------------------------------------------------------
# Configuration.


def _rank() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    for name in ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK"):
        if name in os.environ:
            return int(os.environ[name])
    return 0


def configure(
    dir: str | None = None, format_strs: Sequence[str] | None = None, log_suffix: str = ""  # noqa: A002
) -> Logger:
    """Make a new logger the current one (and return it); see the module docstring for the defaults."""
    if dir is None:
        dir = os.environ.get("OPENAI_LOGDIR")
    if dir is None:
        stamp = datetime.datetime.now().strftime("openai-%Y-%m-%d-%H-%M-%S-%f")
        dir = os.path.join(tempfile.gettempdir(), stamp)
    dir = os.path.expanduser(dir)
    log_dir = Path(dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    rank = _rank()
    if rank > 0:
        log_suffix = f"{log_suffix}-rank{rank:03d}"
    if format_strs is None:
        env, default = ("OPENAI_LOG_FORMAT", "stdout,log,csv") if rank == 0 else ("OPENAI_LOG_FORMAT_MPI", "log")
        format_strs = os.environ.get(env, default).split(",")
    names = [name for name in format_strs if name]
    for name in names:  # validate all before opening any file
        if name not in FORMATS:
            raise InputError(f"unknown log format {name!r}; choose from {list(FORMATS)}")
    logger = Logger(dir, [make_output_format(name, log_dir, log_suffix) for name in names])
    _CURRENT.logger = logger
    if names:
        logger.log(f"Logging to {dir}")
    return logger


def get_current() -> Logger:
    """The current logger (configured with the defaults on first use, as in the reference)."""
    if _CURRENT.logger is None:
        configure()
    assert _CURRENT.logger is not None
    return _CURRENT.logger


@contextlib.contextmanager
def scoped_configure(
    dir: str | None = None, format_strs: Sequence[str] | None = None  # noqa: A002
) -> Iterator[Logger]:
    """Use a fresh logger inside the block; the previous one is current again afterwards."""
    previous = _CURRENT.logger
    logger = configure(dir=dir, format_strs=format_strs)
    try:
        yield logger
    finally:
        logger.close()
        _CURRENT.logger = previous


#----------------------------------------------------------------------------
# The free functions of the reference API.


def logkv(key: str, val: Any) -> None:
    """Set a diagnostic for this iteration (the last value wins)."""
    get_current().logkv(key, val)


def logkv_mean(key: str, val: Any) -> None:
    """Average of every value logged under `key` this iteration."""
    get_current().logkv_mean(key, val)


def logkvs(d: Mapping[str, Any]) -> None:
    """logkv for every item."""
    for key, val in d.items():
        logkv(key, val)


def dumpkvs() -> dict[str, Any]:
    """Write this iteration's diagnostics and return them."""
    return get_current().dumpkvs()


def getkvs() -> dict[str, Any]:
    """The diagnostics logged so far this iteration (the live dict)."""
    return get_current().name2val


def log(*args: Any, level: int = INFO) -> None:
    """Write the arguments, space-separated, to stdout/log.txt."""
    get_current().log(*args, level=level)


def debug(*args: Any) -> None:
    log(*args, level=DEBUG)


def info(*args: Any) -> None:
    log(*args, level=INFO)


def warn(*args: Any) -> None:
    log(*args, level=WARN)


def error(*args: Any) -> None:
    log(*args, level=ERROR)


def set_level(level: int) -> None:
    """Threshold of the current logger (DEBUG, INFO, WARN, ERROR, DISABLED)."""
    get_current().set_level(level)


def get_dir() -> str | None:
    """The current logger's directory."""
    return get_current().get_dir()
