"""TF1 legacy bilinear resize: bit-exact against TF's op and against a literal transcription of its C++ loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.extractors.inception.resize import resize_bilinear_tf1

SIZES = [(32, 32), (64, 64), (128, 128), (256, 256), (299, 299), (512, 512), (17, 300), (301, 5), (1024, 700)]


def _tf_loop_reference(image: np.ndarray, out: int) -> np.ndarray:
    """Row-by-row transcription of resize_bilinear_op.cc (legacy scaler), float32 scalars throughout."""
    h, w, _ = image.shape
    img = image.astype(np.float32)
    f32 = np.float32
    result = np.empty((out, out, img.shape[2]), np.float32)
    scale_y, scale_x = f32(h) / f32(out), f32(w) / f32(out)
    xs = [f32(j) * scale_x for j in range(out)]
    x_lo = np.array([max(int(np.floor(v)), 0) for v in xs])
    x_hi = np.array([min(int(np.ceil(v)), w - 1) for v in xs])
    x_lerp = np.array([v - f32(np.floor(v)) for v in xs], np.float32)[:, None]
    for i in range(out):
        in_y = f32(i) * scale_y
        y_lo, y_hi = max(int(np.floor(in_y)), 0), min(int(np.ceil(in_y)), h - 1)
        y_lerp = f32(in_y - f32(np.floor(in_y)))
        top_left, top_right = img[y_lo, x_lo], img[y_lo, x_hi]
        bottom_left, bottom_right = img[y_hi, x_lo], img[y_hi, x_hi]
        top = top_left + (top_right - top_left) * x_lerp
        bottom = bottom_left + (bottom_right - bottom_left) * x_lerp
        result[i] = top + (bottom - top) * y_lerp
    return result


@pytest.mark.parametrize("size", SIZES)
def test_matches_literal_transcription(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(size[0] * 1000 + size[1])
    images = rng.integers(0, 256, (2, *size, 3), dtype=np.uint8)
    ours = resize_bilinear_tf1(torch.from_numpy(images).float(), 299).numpy()
    for k in range(2):
        np.testing.assert_array_equal(ours[k], _tf_loop_reference(images[k], 299))


def test_identity_and_constant() -> None:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(0, 256, (1, 299, 299, 3)).astype(np.float32))
    assert torch.equal(resize_bilinear_tf1(x, 299), x)
    flat = torch.full((1, 40, 70, 3), 77.0)
    assert torch.equal(resize_bilinear_tf1(flat, 299), torch.full((1, 299, 299, 3), 77.0))


@pytest.mark.tf
@pytest.mark.parametrize("size", SIZES)
def test_bit_exact_against_tensorflow(size: tuple[int, int]) -> None:
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(size[0] + 7 * size[1])
    images = rng.integers(0, 256, (2, *size, 3), dtype=np.uint8).astype(np.float32)
    expected = tf.raw_ops.ResizeBilinear(images=images, size=[299, 299], align_corners=False,
                                         half_pixel_centers=False).numpy()
    ours = resize_bilinear_tf1(torch.from_numpy(images), 299).numpy()
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("size", [(64, 64), (512, 512), (1024, 700)])
def test_uint8_input_gives_the_float_input_result(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(size[0])
    images = torch.from_numpy(rng.integers(0, 256, (2, *size, 3), dtype=np.uint8))
    assert torch.equal(resize_bilinear_tf1(images, 299), resize_bilinear_tf1(images.float(), 299))
