"""The streaming archive reader: stored/deflated members, .npy v1/v2/v3 headers, bounded memory, malformed files."""

import io
import os
import struct
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmark.errors import InputError
from benchmark.io.npz import inspect_archive, iter_image_batches, parse_npy_header, read_labels, read_small_array


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


# ----------------------------------------------------------------------------------------------------------------
# Hand-made .npy headers: numpy's own rules (bounded length, exact keys, integer shape) and bounded allocations.


def npy_bytes(header: str, data: bytes = b"", version=(1, 0), declared_len: int | None = None) -> bytes:
    """A .npy stream with the header text as given (padded with spaces to a 64-byte boundary, newline-terminated)."""
    prefix = 10 if version == (1, 0) else 12
    text = header + " " * ((-(prefix + len(header) + 1)) % 64) + "\n"
    raw = text.encode("latin1")
    length = len(raw) if declared_len is None else declared_len
    size = struct.pack("<H", length) if version == (1, 0) else struct.pack("<I", length)
    return b"\x93NUMPY" + bytes(version) + size + raw + data


def write_members(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, raw in members.items():
            zf.writestr(name, raw)
    return path


IMAGES_4 = bytes(4 * 16 * 16 * 3)


@pytest.mark.parametrize(
    "header,data,version,declared_len,message",
    [
        ("{'descr': '|u1', 'fortran_order': False, 'shape': (4.9, 16, 16, 3), }", IMAGES_4, (1, 0), None,
         "invalid .npy shape"),
        ("{'descr': '|u1', 'fortran_order': False, 'shape': (4, 16.0, 16, 3), }", IMAGES_4, (2, 0), None,
         "invalid .npy shape"),
        ("{'descr': '|u1', 'fortran_order': False, 'shape': (True, 16, 16, 3), }", bytes(16 * 16 * 3), (1, 0), None,
         "invalid .npy shape"),
        ("{'descr': '|u1', 'fortran_order': False, 'shape': [4, 16, 16, 3], }", IMAGES_4, (1, 0), None,
         "invalid .npy shape"),
        ("{'descr': '|u1', 'fortran_order': False, 'shape': (4, 16, 16, 3), 'extra': 1, }", IMAGES_4, (1, 0), None,
         "header keys"),
        ("{'descr': '|u1', 'fortran_order': 0, 'shape': (4, 16, 16, 3), }", IMAGES_4, (1, 0), None,
         "fortran_order"),
        ("{'descr': '|u1', 'fortran_order': False, 'shape': (4, 16, 16, 3), }" + " " * 12000, IMAGES_4, (2, 0), None,
         "at most 10000"),
        ("{'descr': '|u1', 'fortran_order': False, 'shape': (4, 16, 16, 3), }", IMAGES_4, (2, 0), 2**32 - 1,
         "at most 10000"),
        ("{'descr': '|u1', 'fortran_order': False, 'shape': (4, 16, 16, 3), }", IMAGES_4, (3, 0), 2**32 - 1,
         "at most 10000"),
    ],
)
def test_headers_numpy_refuses_are_refused(tmp_path, header, data, version, declared_len, message):
    path = write_members(tmp_path / "h.npz", {"arr_0.npy": npy_bytes(header, data, version, declared_len)})
    with pytest.raises(InputError, match=message) as err:
        inspect_archive(path)
    assert str(path) in str(err.value)


def _patch_central_size(raw: bytes, name: str, file_size: int) -> bytes:
    """Rewrite the uncompressed size of member `name` in the zip's central directory."""
    out = bytearray(raw)
    pos = out.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack("<H", out[pos + 28 : pos + 30])[0]
        if out[pos + 46 : pos + 46 + name_len] == name.encode():
            out[pos + 24 : pos + 28] = struct.pack("<I", file_size)
            return bytes(out)
        pos = out.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(f"{name} not in the central directory")


HUGE = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000000,), }"


@pytest.mark.parametrize(
    "case,message",
    [
        ("huge_declared", "header promises"),  # 1e14 float64 declared, 80 bytes stored
        ("huge_declared_and_stated", "more than deflate can expand"),  # the zip's stated size lies as well
        ("short_declared", "header promises"),  # 10 elements declared, 100 stored: numpy reads 10 silently
        ("over_cap", "more than the"),  # consistent sizes, but beyond what a statistic may take
    ],
)
def test_small_arrays_are_bounded_before_allocation(tmp_path, case, message):
    images = npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (4, 16, 16, 3), }", IMAGES_4)
    compression = zipfile.ZIP_DEFLATED if case == "huge_declared_and_stated" else zipfile.ZIP_STORED
    if case == "huge_declared":
        member = npy_bytes(HUGE, bytes(80))
    elif case == "huge_declared_and_stated":  # header and the zip's stated size agree on ~4 GiB; 80 bytes are there
        offset = len(npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (4294967000,), }"))
        member = npy_bytes(f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({2**32 - 1 - offset},), }}",
                           bytes(80))
    elif case == "short_declared":
        member = npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (10,), }", bytes(800))
    else:
        member = npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (200,), }", bytes(1600))
    path = write_members(tmp_path / "m.npz", {"arr_0.npy": images, "mu.npy": member}, compression)
    if case == "huge_declared_and_stated":
        path.write_bytes(_patch_central_size(path.read_bytes(), "mu.npy", 2**32 - 1))
    with pytest.raises(InputError, match=message) as err:
        read_small_array(path, "mu", **({"max_bytes": 1000} if case == "over_cap" else {}))
    assert str(path) in str(err.value)


def test_labels_declaring_too_many_elements_are_refused(tmp_path):
    images = npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (4, 16, 16, 3), }", IMAGES_4)
    labels = npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (100000000000000,), }", bytes(32))
    path = write_members(tmp_path / "l.npz", {"arr_0.npy": images, "arr_1.npy": labels})
    with pytest.raises(InputError, match="header promises"):
        read_labels(path)


def _numpy_reads_header(raw: bytes) -> bool:
    """numpy's own verdict on a .npy header (read_array_header_* with its default max_header_size)."""
    f = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(f)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        if version == (3, 0):
            return False  # numpy has no public v3 header reader; the v3 cases are checked by our rules only
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            shape, _, dtype = reader(f)
    except Exception:  # numpy raises ValueError (and others) for anything it refuses
        return False
    return not dtype.hasobject


_SHAPE_ITEMS = st.one_of(st.integers(-3, 2**70), st.floats(allow_nan=False, allow_infinity=False, width=32),
                         st.booleans(), st.text("ab1", max_size=3))  # fmt: skip


@settings(max_examples=int(os.environ.get("ADMBENCH_FUZZ_EXAMPLES", "300")), deadline=None)
@given(
    version=st.sampled_from([(1, 0), (2, 0)]),
    descr=st.sampled_from(["|u1", "<f8", "<i8", "|O", "<x9", 5]),
    fortran=st.sampled_from([False, True, 0, 1, None]),
    shape=st.one_of(st.tuples(*[_SHAPE_ITEMS] * 2), st.lists(_SHAPE_ITEMS, max_size=4).map(tuple),
                    st.lists(st.integers(0, 9), max_size=4)),
    extra=st.dictionaries(st.sampled_from(["extra", "descr2", "Shape"]), st.integers(), max_size=2),
    drop=st.sets(st.sampled_from(["descr", "fortran_order", "shape"]), max_size=1),
    padding=st.sampled_from([0, 100, 9950, 10100]),
    declared_delta=st.sampled_from([0, 0, 0, -5, 7, 2**31]),
)
def test_fuzzed_headers_follow_numpy(version, descr, fortran, shape, extra, drop, padding, declared_delta):
    """Header lengths, non-integer shapes, unknown or missing keys: accepted exactly when numpy accepts them
    (minus what the reader refuses on top: bool or negative dimensions, object dtypes), else one InputError."""
    fields = {"descr": descr, "fortran_order": fortran, "shape": shape, **extra}
    for key in drop:
        fields.pop(key, None)
    text = repr(fields) + " " * padding
    body = npy_bytes(text, version=version)
    hlen = len(body) - (10 if version == (1, 0) else 12)
    declared = hlen + declared_delta
    if version == (1, 0) and not 0 <= declared < 2**16:
        declared = hlen
    raw = npy_bytes(text, version=version, declared_len=max(declared, 0))
    numpy_ok = _numpy_reads_header(raw)
    try:
        header = parse_npy_header(io.BytesIO(raw), "fuzz.npz", "arr_0.npy")
    except InputError as err:
        assert str(err).startswith("fuzz.npz: member arr_0.npy ")
        ours_ok = False
    else:
        ours_ok = True
        assert all(type(s) is int and s >= 0 for s in header.shape)
    strict_extra = isinstance(shape, tuple) and any(isinstance(s, bool) or (isinstance(s, int) and s < 0)
                                                    for s in shape)  # fmt: skip
    assert ours_ok == (numpy_ok and not strict_extra)


@settings(max_examples=int(os.environ.get("ADMBENCH_FUZZ_EXAMPLES", "300")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    version=st.sampled_from([(1, 0), (2, 0), (3, 0)]),
    n=st.one_of(st.integers(0, 6), st.integers(2**20, 2**62), st.floats(0, 9, allow_nan=False)),
    key=st.sampled_from(["arr_0", "arr_1", "mu"]),
    declared=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    extra_key=st.booleans(),
)
def test_fuzzed_header_sizes_in_archives_give_clean_errors(tmp_path, version, n, key, declared, extra_key):
    """Lengths and shapes that do not match the member's bytes never allocate: an InputError or the right data."""
    if version == (1, 0) and declared is not None:
        declared %= 2**16
    data = bytes(4 * 16 * 16 * 3)
    shape = f"({n!r}, 16, 16, 3)" if key == "arr_0" else f"({n!r},)"
    descr = "|u1" if key == "arr_0" else "<i8"
    extra = "'x': 1, " if extra_key else ""
    member = npy_bytes(f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, {extra}}}",
                       data if key == "arr_0" else bytes(8 * 4), version, declared)  # fmt: skip
    members = {f"{key}.npy": member}
    if key != "arr_0":
        members["arr_0.npy"] = npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (4, 16, 16, 3), }", data)
    path = write_members(tmp_path / "s.npz", members)
    try:
        if key == "arr_0":
            got = np.concatenate(list(iter_image_batches(path, 3)))
            assert got.shape == (4, 16, 16, 3)
        elif key == "arr_1":
            assert read_labels(path).shape == (4,)
        else:
            assert read_small_array(path, "mu").shape == (4,)
    except InputError as err:
        assert str(path) in str(err)
