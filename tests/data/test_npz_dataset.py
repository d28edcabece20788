"""Image .npz datasets and the open_dataset factory."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data.npz_dataset import NpzImageDataset
from benchmark.data.registry import open_dataset
from benchmark.errors import InputError


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(7, 8, 8, 3), dtype=np.uint8)


def test_valid_file_with_and_without_labels(tmp_path, images):
    labels = np.array([0, 1, 2, 0, 1, 2, 4])
    data = NpzImageDataset(_write(tmp_path / "a.npz", arr_0=images, arr_1=labels))
    assert len(data) == 7 and data.resolution == 8 and data.channels == 3 and data.num_classes == 5
    image, label = data[6]
    np.testing.assert_array_equal(image, images[6])
    assert label == 4
    batch, batch_labels = data.read(2, 5)
    np.testing.assert_array_equal(batch, images[2:5])
    assert batch_labels.dtype == np.int64 and batch_labels.tolist() == [2, 0, 1]
    unlabelled = NpzImageDataset(_write(tmp_path / "b.npz", arr_0=images))
    assert unlabelled.num_classes == 0 and unlabelled[0][1] == -1


def test_gray_files_widen_to_rgb(tmp_path, images):
    gray = images[..., :1]
    data = NpzImageDataset(_write(tmp_path / "g.npz", arr_0=gray), channels=3)
    assert data.channels == 3
    np.testing.assert_array_equal(data[0][0], np.repeat(gray[0], 3, axis=-1))


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"images": np.zeros((2, 8, 8, 3), np.uint8)}, "no 'arr_0'"),
        ({"arr_0": np.zeros((2, 8, 8, 3), np.float32)}, "must be uint8"),
        ({"arr_0": np.zeros((2, 8, 8), np.uint8)}, "NHWC"),
        ({"arr_0": np.zeros((2, 3, 8, 8), np.uint8)}, "NHWC"),
        ({"arr_0": np.zeros((2, 8, 6, 3), np.uint8)}, "square"),
        ({"arr_0": np.zeros((2, 8, 8, 3), np.uint8), "arr_1": np.zeros(3, np.int64)}, "2 integer labels"),
        ({"arr_0": np.zeros((2, 8, 8, 3), np.uint8), "arr_1": np.zeros(2, np.float32)}, "integer labels"),
        ({"arr_0": np.zeros((2, 8, 8, 3), np.uint8), "arr_1": np.array([0, -3])}, "non-negative"),
    ],
)
def test_invalid_contents(tmp_path, arrays, message):
    path = _write(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=message) as info:
        NpzImageDataset(path)
    assert str(path) in str(info.value)


def test_unreadable_and_mismatching_files(tmp_path, images):
    with pytest.raises(InputError, match="not found"):
        NpzImageDataset(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(InputError, match="not a readable"):
        NpzImageDataset(tmp_path / "junk.npz")
    path = _write(tmp_path / "ok.npz", arr_0=images)
    with pytest.raises(InputError, match="expected 16x16"):
        NpzImageDataset(path, resolution=16)
    with pytest.raises(InputError, match="cannot provide 1"):
        NpzImageDataset(path, channels=1)


def test_open_dataset_dispatch(tmp_path, images):
    path = _write(tmp_path / "x.npz", arr_0=images)
    assert isinstance(open_dataset(str(path)), NpzImageDataset)
    with pytest.raises(InputError, match="unknown dataset"):
        open_dataset(str(tmp_path / "x.png"))
    with pytest.raises(InputError, match="unknown Fashion-MNIST split"):
        open_dataset("fashion-mnist:validation", 32)
    with pytest.raises(InputError, match="need a resolution"):
        open_dataset(str(tmp_path))
