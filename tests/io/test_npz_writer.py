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


def test_labels_follow_as_arr_1(tmp_path: Path) -> None:
    images = np.random.default_rng(2).integers(0, 256, (6, 4, 4, 1), dtype=np.uint8)
    labels = np.arange(6, dtype=np.int64) % 3
    path = tmp_path / "labelled.npz"
    write_image_archive(path, images.shape, [images[:4], images[4:]], labels)
    with np.load(path) as npz:
        assert sorted(npz.keys()) == ["arr_0", "arr_1"]
        np.testing.assert_array_equal(npz["arr_0"], images)
        np.testing.assert_array_equal(npz["arr_1"], labels)
    with pytest.raises(ValueError, match="labels"):
        write_image_archive(tmp_path / "bad.npz", images.shape, [images], labels[:5])
    assert not (tmp_path / "bad.npz").exists()


def test_npy_format_version_is_savez_s(tmp_path: Path) -> None:
    import zipfile

    images = np.zeros((2, 3, 3, 3), np.uint8)
    write_image_archive(tmp_path / "a.npz", images.shape, [images])
    np.savez(tmp_path / "b.npz", images)
    heads = []
    for name in ("a.npz", "b.npz"):
        with zipfile.ZipFile(tmp_path / name) as zf, zf.open("arr_0.npy") as f:
            heads.append(np.lib.format.read_magic(f))
    assert heads[0] == heads[1] == (1, 0)


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
