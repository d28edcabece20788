"""Padding, resizing and channel replication (prepare_images) and the training tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.data.tensors import ImageTensors
from benchmark.data.transforms import prepare_images, resize_images


@pytest.fixture
def digits():
    return np.random.default_rng(1).integers(0, 256, size=(6, 28, 28), dtype=np.uint8)


def test_native_resolution_is_identity(digits):
    out = prepare_images(digits, 28, 1)
    assert out.shape == (6, 28, 28, 1)
    np.testing.assert_array_equal(out[..., 0], digits)


def test_pad_to_32(digits):
    out = prepare_images(digits, 32, 1)[..., 0]
    assert out.shape == (6, 32, 32)
    np.testing.assert_array_equal(out[:, 2:30, 2:30], digits)
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert (out[:, border] == 0).all()


def test_16_is_the_2x2_box_average_of_the_padded_canvas(digits):
    canvas = np.zeros((6, 32, 32), np.float64)
    canvas[:, 2:30, 2:30] = digits
    expected = np.round(canvas.reshape(6, 16, 2, 16, 2).mean(axis=(2, 4)))  # numpy rounds half to even too
    np.testing.assert_array_equal(prepare_images(digits, 16, 1)[..., 0], expected.astype(np.uint8))


def test_8_is_the_4x4_box_average(digits):
    canvas = np.zeros((6, 32, 32), np.float64)
    canvas[:, 2:30, 2:30] = digits
    expected = np.round(canvas.reshape(6, 8, 4, 8, 4).mean(axis=(2, 4)))
    np.testing.assert_array_equal(prepare_images(digits, 8, 1)[..., 0], expected.astype(np.uint8))


def test_three_channels_replicate_gray(digits):
    out = prepare_images(digits, 16, 3)
    assert out.shape == (6, 16, 16, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    np.testing.assert_array_equal(out[..., :1], prepare_images(digits, 16, 1))


def test_non_divisible_resize_keeps_constants_and_range():
    flat = np.full((2, 28, 28), 200, np.uint8)
    out = prepare_images(flat, 24, 1)[..., 0]
    assert out.shape == (2, 24, 24)
    # Interior pixels far from the zero border keep the constant value; everything stays in range.
    assert (out[:, 6:18, 6:18] == 200).all()
    assert out.max() <= 200 and out[:, 0, 0].max() < 200


def test_resize_images_checks_rank():
    with pytest.raises(ValueError):
        resize_images(np.zeros((4, 4), np.uint8), 2)


@pytest.mark.parametrize("bad", [np.zeros((2, 28, 28), np.float32), np.zeros((2, 28, 28, 3), np.uint8)])
def test_prepare_images_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        prepare_images(bad, 32, 3)


def test_image_tensors_scale_order_and_flip():
    rng = np.random.default_rng(2)
    images = torch.from_numpy(rng.integers(0, 256, size=(10, 4, 4, 3), dtype=np.uint8))
    labels = torch.arange(10)
    data = ImageTensors(images, labels, num_classes=10)
    x, y = data[3]
    torch.testing.assert_close(x, images[3].permute(2, 0, 1).double().div(127.5).sub(1).float())
    assert y == 3
    # Unshuffled, unflipped batches cover the data in order; drop_last drops the remainder.
    batches = list(data.batches(4, shuffle=False))
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert batches[0][0].shape == (4, 3, 4, 4) and batches[0][0].min() >= -1 and batches[0][0].max() <= 1
    # A seeded generator reproduces the order and flips exactly; every image is either as-is or mirrored.
    a = list(data.batches(5, generator=torch.Generator().manual_seed(7), random_flip=True))
    b = list(data.batches(5, generator=torch.Generator().manual_seed(7), random_flip=True))
    for (xa, ya), (xb, yb) in zip(a, b):
        torch.testing.assert_close(xa, xb)
        assert ya.tolist() == yb.tolist()
        for xi, yi in zip(xa, ya):
            plain = data[int(yi)][0]
            assert torch.equal(xi, plain) or torch.equal(xi, plain.flip(2))
    assert sorted(torch.cat([y for _, y in a]).tolist()) == list(range(10))
