"""Read-ahead iterator: same items in the same order, errors surface in the caller, early exit closes the source."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from benchmark.io.prefetch import prefetched


def test_same_items_same_order() -> None:
    assert list(prefetched(iter(range(100)))) == list(range(100))
    assert list(prefetched(iter([]))) == []


def test_items_are_produced_on_another_thread_one_ahead() -> None:
    produced: list[tuple[int, str]] = []

    def source() -> Iterator[int]:
        for i in range(4):
            produced.append((i, threading.current_thread().name))
            yield i

    it = prefetched(source())
    assert next(it) == 0
    # While the caller holds item 0, item 1 is being (or has been) produced, but not item 2.
    it_value = next(it)
    assert it_value == 1 and len(produced) <= 3
    assert all(name.startswith("admbench-prefetch") for _, name in produced)
    assert list(it) == [2, 3]


def test_producer_error_reaches_the_caller_after_earlier_items() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in prefetched(source()):
            got.append(item)
    assert got == [1, 2]


def test_early_exit_closes_the_source() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(1000)
        finally:
            closed.set()

    for item in prefetched(source()):
        if item == 3:
            break
    assert closed.is_set()
