"""Progress reporting: rich bars on a terminal, a few plain lines otherwise, nothing with --quiet."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class Task(Protocol):
    def advance(self, n: int) -> None: ...


class Reporter(Protocol):
    def task(self, description: str, total: int | None, unit: str = "img") -> contextmanager: ...  # type: ignore[valid-type]

    def log(self, message: str) -> None: ...

    def warn(self, message: str) -> None: ...


@dataclass
class _PlainTask:
    description: str
    total: int | None
    unit: str
    stream: object
    done: int = 0
    started: float = field(default_factory=time.perf_counter)
    last: float = 0.0

    def advance(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= 30.0:  # a heartbeat line every 30 s on non-terminals
            self.last = now
            total = f"/{self.total}" if self.total else ""
            print(f"{self.description}: {self.done}{total} {self.unit}", file=self.stream, flush=True)


class PlainReporter:
    """Line-based progress for logs and pipes (stderr)."""

    def __init__(self, stream=None) -> None:
        self._stream = stream or sys.stderr

    @contextmanager
    def task(self, description: str, total: int | None, unit: str = "img") -> Iterator[Task]:
        t = _PlainTask(description, total, unit, self._stream, last=time.perf_counter())
        yield t
        rate = t.done / max(time.perf_counter() - t.started, 1e-9)
        print(f"{description}: {t.done} {unit} done ({rate:.1f} {unit}/s)", file=self._stream, flush=True)

    def log(self, message: str) -> None:
        print(message, file=self._stream, flush=True)

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=self._stream, flush=True)


class QuietReporter:
    """No progress output; warnings still go to stderr (one line each)."""

    @contextmanager
    def task(self, description: str, total: int | None, unit: str = "img") -> Iterator[Task]:
        class _T:
            def advance(self, n: int) -> None:
                pass

        yield _T()

    def log(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr, flush=True)


class RichReporter:
    """rich progress bars with rate and ETA (stderr)."""

    def __init__(self) -> None:
        self._console = Console(stderr=True)

    @contextmanager
    def task(self, description: str, total: int | None, unit: str = "img") -> Iterator[Task]:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(f"{unit}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self._console, transient=False) as progress:
            task_id = progress.add_task(description, total=total)

            class _T:
                def advance(self, n: int) -> None:
                    progress.advance(task_id, n)

            yield _T()

    def log(self, message: str) -> None:
        self._console.print(message, highlight=False)

    def warn(self, message: str) -> None:
        self._console.print(f"warning: {message}", style="yellow", highlight=False, markup=False, soft_wrap=True)


def make_reporter(quiet: bool) -> Reporter:
    """Rich bars on an interactive stderr, plain lines otherwise, only warnings when quiet."""
    if quiet:
        return QuietReporter()
    if sys.stderr.isatty():
        return RichReporter()
    return PlainReporter()
