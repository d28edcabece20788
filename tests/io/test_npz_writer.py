"""Streaming archive writer: same content as np.savez, readable by both readers, nothing left on failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmark.io.npz import inspect_archive, iter_image_batches
from benchmark.io.npz_writer import write_image_archive


def test_streamed_archive_reads_like_savez(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 256, (23, 9, 7, 3), dtype=np.uint8)
    path = tmp_path / "streamed.npz"
    write_image_archive(path, images.shape, (images[i : i + 5] for i in range(0, 23, 5)))
    with np.load(path) as npz:
        assert list(npz.keys()) == ["arr_0"]
        np.testing.assert_array_equal(npz["arr_0"], images)
    np.testing.assert_array_equal(np.concatenate(list(iter_image_batches(path, 4))), images)
    reference = tmp_path / "savez.npz"
    np.savez(reference, images)
    assert inspect_archive(path).num_images == inspect_archive(reference).num_images == 23


@pytest.mark.parametrize("counts", [(5, 5), (5, 5, 5, 5, 5)])
def test_wrong_image_count_leaves_nothing(tmp_path: Path, counts: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    batches = [rng.integers(0, 256, (k, 4, 4, 3), dtype=np.uint8) for k in counts]
    with pytest.raises(ValueError, match="promised"):
        write_image_archive(tmp_path / "x.npz", (12, 4, 4, 3), batches)
    assert list(tmp_path.iterdir()) == []


def test_wrong_batch_shape_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        write_image_archive(tmp_path / "x.npz", (2, 4, 4, 3), [np.zeros((2, 4, 4, 1), np.uint8)])
    assert list(tmp_path.iterdir()) == []
