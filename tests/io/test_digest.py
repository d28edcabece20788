"""SHA-256 of files (bounded memory) and of arrays."""

import hashlib
import tracemalloc

import numpy as np
import pytest

from benchmark.errors import InputError
from benchmark.io.digest import arrays_sha256, file_sha256


def test_file_sha256_is_sha256sum_of_the_bytes_with_bounded_memory(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 48 << 20, dtype=np.uint8).tobytes()
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    seen = []
    tracemalloc.start()
    try:
        got = file_sha256(path, seen.append)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == hashlib.sha256(data).hexdigest()
    assert sum(seen) == len(data)
    assert peak < 12 << 20  # one read buffer, not the 48 MiB file


def test_file_sha256_of_an_unreadable_path_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        file_sha256(tmp_path)  # a directory


def test_arrays_sha256_sees_every_bit_shape_and_dtype():
    a = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    base = arrays_sha256([a, a[:, :2]])
    flipped = a.copy()
    flipped.view(np.uint32)[3, 2] ^= 1
    assert arrays_sha256([flipped, a[:, :2]]) != base
    assert arrays_sha256([a.reshape(4, 6), a[:, :2]]) != base
    assert arrays_sha256([a.astype(np.float64), a[:, :2]]) != base
    assert arrays_sha256([a, np.ascontiguousarray(a[:, :2])]) == base  # views hash as their values
