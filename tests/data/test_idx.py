"""idx decoding: hand-built buffers (struct-packed headers) and the real Fashion-MNIST files."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from benchmark.data.fashion_mnist import FILES
from benchmark.data.idx import decode_idx, encode_idx
from benchmark.errors import InputError
from tests.data.fmnist_files import load_split_or_fail, require_fashion_mnist


def _idx(shape: tuple[int, ...], payload: bytes, type_byte: int = 0x08) -> bytes:
    return struct.pack(">BBBB", 0, 0, type_byte, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + payload


def test_decodes_a_generated_idx3_buffer():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 3, 4), dtype=np.uint8)
    decoded = decode_idx(_idx((5, 3, 4), images.tobytes()), expected_ndim=3)
    assert decoded.dtype == np.uint8 and decoded.shape == (5, 3, 4)
    np.testing.assert_array_equal(decoded, images)
    # Row-major: byte 16 + 4 * 1 + 2 is images[0, 1, 2].
    assert decode_idx(_idx((5, 3, 4), images.tobytes()))[0, 1, 2] == images.tobytes()[1 * 4 + 2]


def test_encode_round_trip_matches_struct_layout():
    labels = np.arange(7, dtype=np.uint8)
    assert encode_idx(labels) == _idx((7,), labels.tobytes())


def test_generated_gz_file_decodes(tmp_path):
    labels = np.array([3, 1, 4, 1, 5, 9], dtype=np.uint8)
    path = tmp_path / "tiny-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(_idx((6,), labels.tobytes())))
    np.testing.assert_array_equal(decode_idx(gzip.decompress(path.read_bytes()), path, expected_ndim=1), labels)


@pytest.mark.parametrize(
    "buffer, message",
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "magic"),
        (_idx((2,), b"\x00\x00", type_byte=0x0D), "not supported"),
        (_idx((2, 2), b"\x00" * 4), "dimensions, expected 1"),
        (_idx((4,), b"\x00" * 3), "payload"),
        (_idx((4,), b"\x00" * 5), "payload"),
        (b"\x00\x00\x08\x01\x00\x00", "header declares 1 dimensions"),
    ],
)
def test_malformed_buffers_raise_input_error(buffer, message):
    with pytest.raises(InputError, match=message) as info:
        decode_idx(buffer, "some-file.idx", expected_ndim=1)
    assert "some-file.idx" in str(info.value)


def test_real_fashion_mnist_headers_and_class_balance():
    require_fashion_mnist()
    for split, count in (("train", 60000), ("test", 10000)):
        images, labels = load_split_or_fail(split)
        assert images.shape == (count, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (count,) and labels.dtype == np.int64
        # Fashion-MNIST is exactly balanced: 6,000 (train) / 1,000 (test) images per class.
        np.testing.assert_array_equal(np.bincount(labels, minlength=10), np.full(10, count // 10))
        assert images.max() == 255 and images.min() == 0
    assert set(FILES) == {"train", "test"}


def test_real_fashion_mnist_first_items():
    train_images, train_labels = load_split_or_fail("train")
    # The first training item is an ankle boot (class 9) and its top-left corner is background.
    assert train_labels[0] == 9
    assert train_images[0, :2, :2].sum() == 0
