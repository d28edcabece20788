"""Test helper: the real Fashion-MNIST files must be present (CI installs the Debian package dataset-fashion-mnist)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from benchmark.data.fashion_mnist import FILES, search_dirs
from benchmark.errors import InputError


def require_fashion_mnist() -> None:
    """Fail (never skip) with a clear message when the idx files cannot be found locally."""
    dirs = search_dirs()
    missing = [s.filename for pair in FILES.values() for s in pair if not any((d / s.filename).is_file() for d in dirs)]
    if missing:
        pytest.fail(
            f"Fashion-MNIST files {missing} not found in {[str(d) for d in dirs]}: install the Debian package "
            "dataset-fashion-mnist or point ADMBENCH_DATA at a folder holding the four idx .gz files",
            pytrace=False,
        )


def load_split_or_fail(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST split (no download attempt; shared, do not modify) or a test failure naming what is missing."""
    require_fashion_mnist()
    return _load(split)


@functools.lru_cache(maxsize=2)  # decoding + verifying a split takes seconds; tests share one read-only copy
def _load(split: str) -> tuple[np.ndarray, np.ndarray]:
    from benchmark.data.fashion_mnist import load_split

    try:
        images, labels = load_split(split, allow_download=False)
    except InputError as exc:
        pytest.fail(f"Fashion-MNIST {split} split unusable: {exc}", pytrace=False)
    return images, labels
