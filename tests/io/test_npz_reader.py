"""The streaming archive reader: stored/deflated members, .npy v1/v2/v3 headers, bounded memory, malformed files."""

import io
import os
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmark.errors import InputError
from benchmark.io.npz import inspect_archive, iter_image_batches, read_labels


def write_npz(path, arrays, version=(1, 0), compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arr), version=version)
            zf.writestr(f"{key}.npy", buf.getvalue())
    return path


def images(n=37, h=9, w=11, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
@pytest.mark.parametrize("batch", [1, 5, 37, 100])
def test_batches_reassemble_the_array(tmp_path, version, compression, batch):
    x = images()
    path = write_npz(tmp_path / "a.npz", {"arr_0": x, "arr_1": np.arange(37)}, version, compression)
    got = np.concatenate(list(iter_image_batches(path, batch)))
    np.testing.assert_array_equal(got, x)
    assert read_labels(path).tolist() == list(range(37))


def test_numpy_savez_and_savez_compressed(tmp_path):
    x = images(c=1)
    np.savez(tmp_path / "s.npz", x)
    np.savez_compressed(tmp_path / "c.npz", arr_0=x)
    for name in ("s.npz", "c.npz"):
        info = inspect_archive(tmp_path / name)
        assert (info.num_images, info.height, info.width, info.channels) == (37, 9, 11, 1)
        np.testing.assert_array_equal(np.concatenate(list(iter_image_batches(tmp_path / name, 8))), x)


def test_start_stop_slices(tmp_path):
    x = images()
    path = write_npz(tmp_path / "a.npz", {"arr_0": x}, compression=zipfile.ZIP_DEFLATED)
    got = np.concatenate(list(iter_image_batches(path, 4, start=10, stop=23)))
    np.testing.assert_array_equal(got, x[10:23])


def test_fingerprint_changes_with_content(tmp_path):
    x = images()
    a = write_npz(tmp_path / "a.npz", {"arr_0": x})
    y = x.copy()
    y[5, 3, 3, 1] ^= 1
    b = write_npz(tmp_path / "b.npz", {"arr_0": y})
    c = write_npz(tmp_path / "c.npz", {"arr_0": x}, compression=zipfile.ZIP_DEFLATED)
    assert inspect_archive(a).fast_key != inspect_archive(b).fast_key
    assert inspect_archive(a).fast_key == inspect_archive(c).fast_key  # same content, other compression


def test_peak_memory_is_bounded_by_the_batch(tmp_path):
    # 1500 images of 64x64x3 = 18 MB; streaming 16 at a time must stay far below that.
    x = np.random.default_rng(0).integers(0, 256, (1500, 64, 64, 3), dtype=np.uint8)
    path = write_npz(tmp_path / "big.npz", {"arr_0": x}, compression=zipfile.ZIP_DEFLATED)
    del x
    tracemalloc.start()
    total = 0
    for batch in iter_image_batches(path, 16):
        total += len(batch)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == 1500
    assert peak < 3 * 2**20, f"peak traced memory {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize(
    "arrays,message",
    [
        ({"other": np.zeros((2, 4, 4, 3), np.uint8)}, "no arr_0"),
        ({"arr_0": np.zeros((2, 4, 4, 3), np.float32)}, "dtype float32"),
        ({"arr_0": np.zeros((4, 4, 3), np.uint8)}, "4 dimensions"),
        ({"arr_0": np.zeros((2, 4, 4, 4), np.uint8)}, "4 channels"),
        ({"arr_0": np.zeros((2, 3, 4, 4), np.uint8)}, "NCHW"),
        ({"arr_0": np.zeros((0, 4, 4, 3), np.uint8)}, "no images"),
    ],
)
def test_invalid_archives(tmp_path, arrays, message):
    path = write_npz(tmp_path / "bad.npz", arrays)
    with pytest.raises(InputError, match=message) as err:
        inspect_archive(path)
    assert str(path) in str(err.value)


def test_not_a_zip_missing_and_truncated(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        inspect_archive(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(InputError, match="not a zip"):
        inspect_archive(tmp_path / "text.npz")
    good = write_npz(tmp_path / "good.npz", {"arr_0": images(200)}, compression=zipfile.ZIP_DEFLATED)
    data = good.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError):
        list(iter_image_batches(tmp_path / "cut.npz", 8))


@settings(max_examples=int(os.environ.get("ADMBENCH_FUZZ_EXAMPLES", "300")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzzed_archives_give_clean_errors(tmp_path, data):
    """Any mutation or truncation of a valid archive yields correct images or an InputError, nothing else."""
    x = images(12, 5, 6, 3, seed=1)
    compression = data.draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    version = data.draw(st.sampled_from([(1, 0), (2, 0), (3, 0)]))
    raw = bytearray(write_npz(tmp_path / "v.npz", {"arr_0": x}, version, compression).read_bytes())
    action = data.draw(st.sampled_from(["flip", "truncate", "splice"]))
    if action == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            pos = data.draw(st.integers(0, len(raw) - 1))
            raw[pos] = data.draw(st.integers(0, 255))
    elif action == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        pos = data.draw(st.integers(0, len(raw)))
        raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=40))
    path = tmp_path / "fuzz.npz"
    path.write_bytes(bytes(raw))
    try:
        got = np.concatenate(list(iter_image_batches(path, 5)))
    except InputError:
        return
    # Accepted: the zip CRC guarantees the data equals what was written, or the header still describes images.
    assert got.dtype == np.uint8 and got.ndim == 4
