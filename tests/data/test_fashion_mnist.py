"""Fashion-MNIST lookup order, checksum / corruption errors, download failure handling, dataset object."""

from __future__ import annotations

import gzip
import hashlib
import shutil

import numpy as np
import pytest

from benchmark.data import fashion_mnist as fm
from benchmark.errors import InputError
from tests.data.fmnist_files import load_split_or_fail, require_fashion_mnist

TRAIN_LABELS = fm.FILES["train"][1]


def _real_label_archive():
    require_fashion_mnist()
    return fm.locate(TRAIN_LABELS, fm.search_dirs(), allow_download=False)


def test_search_order_env_then_debian_then_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("ADMBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ADMBENCH_CACHE", str(tmp_path / "cache"))
    assert fm.search_dirs() == [
        tmp_path / "data" / "fashion-mnist",
        tmp_path / "data",
        fm.DEBIAN_DIR,
        tmp_path / "cache" / "fashion-mnist",
    ]
    monkeypatch.delenv("ADMBENCH_DATA")
    monkeypatch.delenv("ADMBENCH_CACHE")
    assert fm.search_dirs()[-1].parts[-3:] == (".cache", "admbench", "fashion-mnist")


def test_env_dir_takes_precedence(monkeypatch, tmp_path):
    source = _real_label_archive()
    (tmp_path / "fashion-mnist").mkdir()
    shutil.copy(source, tmp_path / "fashion-mnist" / TRAIN_LABELS.filename)
    monkeypatch.setenv("ADMBENCH_DATA", str(tmp_path))
    found = fm.locate(TRAIN_LABELS, fm.search_dirs(), allow_download=False)
    assert found == tmp_path / "fashion-mnist" / TRAIN_LABELS.filename


def test_altered_content_is_a_checksum_error(tmp_path):
    content = bytearray(gzip.decompress(_real_label_archive().read_bytes()))
    content[100] = (content[100] + 1) % 10  # one label changed, still a valid idx file
    bad = tmp_path / TRAIN_LABELS.filename
    bad.write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(InputError, match="checksum mismatch") as info:
        fm.read_verified(bad, TRAIN_LABELS)
    assert TRAIN_LABELS.filename in str(info.value)


def test_truncated_archive_is_reported(tmp_path):
    raw = _real_label_archive().read_bytes()
    bad = tmp_path / TRAIN_LABELS.filename
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="truncated") as info:
        fm.read_verified(bad, TRAIN_LABELS)
    assert str(bad) in str(info.value)


def test_garbage_file_is_reported(tmp_path):
    bad = tmp_path / TRAIN_LABELS.filename
    bad.write_bytes(b"<html>not found</html>")
    with pytest.raises(InputError, match="corrupt or truncated"):
        fm.read_verified(bad, TRAIN_LABELS)


def test_recompressed_copy_is_accepted_by_content_checksum(tmp_path):
    content = gzip.decompress(_real_label_archive().read_bytes())
    copy = tmp_path / TRAIN_LABELS.filename
    copy.write_bytes(gzip.compress(content, compresslevel=1, mtime=0))
    assert fm.read_verified(copy, TRAIN_LABELS) == content


def test_missing_files_without_download_name_the_search_path(tmp_path):
    with pytest.raises(InputError, match="not found") as info:
        fm.locate(TRAIN_LABELS, [tmp_path], allow_download=False)
    assert str(tmp_path) in str(info.value) and TRAIN_LABELS.filename in str(info.value)


def test_failed_download_leaves_nothing_in_the_cache(monkeypatch, tmp_path):
    # A "mirror" serving a file whose md5 is not the published one (the Debian recompression) must be refused.
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(_real_label_archive(), mirror / TRAIN_LABELS.filename)
    monkeypatch.setenv("ADMBENCH_CACHE", str(tmp_path / "cache"))
    mirrors = (f"file://{tmp_path}/absent/", f"file://{mirror}/")
    with pytest.raises(InputError, match="every download failed") as info:
        fm.locate(TRAIN_LABELS, [tmp_path / "empty"], allow_download=True, mirrors=mirrors)
    assert "md5" in str(info.value)
    cache = tmp_path / "cache" / "fashion-mnist"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_unknown_split():
    with pytest.raises(InputError, match="unknown Fashion-MNIST split"):
        fm.load_split("validation")


def test_dataset_object_prepares_images():
    images, labels = load_split_or_fail("test")
    data = fm.FashionMNIST("test", resolution=32, channels=3, allow_download=False)
    assert len(data) == 10000 and data.num_classes == 10
    assert data.images.shape == (10000, 32, 32, 3) and data.images.dtype == np.uint8
    image, label = data[17]
    np.testing.assert_array_equal(image[2:30, 2:30, 1], images[17])
    assert label == labels[17]
    batch, batch_labels = data.read(100, 110)
    np.testing.assert_array_equal(batch[:, 2:30, 2:30, 0], images[100:110])
    np.testing.assert_array_equal(batch_labels, labels[100:110])
    assert data.describe()["split"] == "test"


def test_download_into_the_cache_then_verify(monkeypatch, tmp_path):
    # A generated archive served from a local "mirror" stands in for the official host (no network in tests).
    content = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9])
    archive = gzip.compress(content, mtime=0)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny-labels-idx1-ubyte.gz").write_bytes(archive)
    spec = fm.IdxFile("tiny-labels-idx1-ubyte.gz", 3, md5=hashlib.md5(archive).hexdigest(), sha256="0" * 64,
                      content_sha256=hashlib.sha256(content).hexdigest())  # fmt: skip
    monkeypatch.setenv("ADMBENCH_CACHE", str(tmp_path / "cache"))
    path = fm.locate(spec, [tmp_path / "empty"], allow_download=True, mirrors=(f"file://{mirror}/",))
    assert path == tmp_path / "cache" / "fashion-mnist" / spec.filename
    assert fm.read_verified(path, spec) == content
    # The next lookup finds the cached copy without any mirror.
    assert fm.locate(spec, fm.search_dirs()[-1:], allow_download=False) == path
