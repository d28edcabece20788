"""Read ahead: produce the next item of an iterator on a background thread while the caller works on this one.

Archive batches are read and inflated (zipfile, zlib and file reads release the GIL) while the extractor runs, so
on a GPU the disk time hides behind the network's. Order, exceptions and early exit behave as for the iterator
itself; at most one item is produced ahead.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_END = object()


def prefetched(items: Iterator[T]) -> Iterator[T]:
    """Yield the items of `items` in order, producing each next one in the background."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="admbench-prefetch") as pool:
        future = pool.submit(next, items, _END)
        try:
            while True:
                item = future.result()  # re-raises the producer's exception here, in the caller's thread
                if item is _END:
                    return
                future = pool.submit(next, items, _END)
                yield item  # type: ignore[misc]
        finally:
            future.cancel()
            if not future.cancelled():
                future.exception()  # wait for a running read; its result or error is dropped
            close = getattr(items, "close", None)
            if close is not None:
                close()
