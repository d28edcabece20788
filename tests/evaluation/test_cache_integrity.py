"""Nothing the feature cache reads back is trusted: archives are hashed now, cached arrays carry their SHA-256,
checkpoints grow with the images actually read, damaged archives and unusable caches leave nothing behind."""

from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import signal
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.errors import InputError
from benchmark.evaluation import cache as cache_mod
from benchmark.evaluation import evaluate as evaluate_mod
from benchmark.evaluation import extract
from benchmark.evaluation.cache import FeatureCache
from benchmark.evaluation.demo import gratings, write_archive
from benchmark.evaluation.evaluate import evaluate
from benchmark.evaluation.settings import EvalSettings
from benchmark.extractors.random_cnn import RandomCNNExtractor
from benchmark.io.npz import inspect_archive
from tests.evaluation.cachefiles import reseal

ROOT = Path(__file__).resolve().parents[2]
EXTRACTOR = ["--extractor", "random-cnn-test"]


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _member_data_offset(path: Path) -> int:
    """Byte offset in the file of arr_0's image data (stored member: local header, then the .npy header)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("arr_0.npy")
        with zf.open(info) as f:
            npy_header = 10 + struct.unpack("<H", f.read(10)[8:10])[0]
    raw = path.read_bytes()
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len + npy_header


def _force_crc32(data: bytearray, pos: int, target: int) -> None:
    """Change data[pos:pos+4] so that zlib.crc32(data) == target (CRC-32 is affine over GF(2))."""
    zero = zlib.crc32(bytes(len(data)))
    basis: dict[int, tuple[int, int]] = {}  # leading bit -> (effect on the CRC, bits of the patch)
    for bit in range(32):
        unit = bytearray(len(data))
        unit[pos + bit // 8] = 1 << (bit % 8)
        effect, patch = zlib.crc32(unit) ^ zero, 1 << bit
        for lead in sorted(basis, reverse=True):
            if effect >> lead & 1:
                effect, patch = effect ^ basis[lead][0], patch ^ basis[lead][1]
        if effect:
            basis[effect.bit_length() - 1] = (effect, patch)
    need, patch = zlib.crc32(bytes(data)) ^ target, 0
    for lead in sorted(basis, reverse=True):
        if need >> lead & 1:
            need, patch = need ^ basis[lead][0], patch ^ basis[lead][1]
    assert need == 0
    for i in range(4):
        data[pos + i] ^= patch >> (8 * i) & 0xFF
    assert zlib.crc32(bytes(data)) == target


def _lying_archive(path: Path, held: int, claimed: int, resolution: int = 16) -> Path:
    """An archive whose .npy header and zip directory claim `claimed` images but whose member holds `held`.

    The member is deflated noise and only its uncompressed size lies, so the claim stays within what its
    compressed bytes could expand to: the reader cannot refuse it from the directory alone.
    """
    images = np.random.default_rng(5).integers(0, 256, (held, resolution, resolution, 3), dtype=np.uint8)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (claimed, resolution, resolution, 3)}
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("arr_0.npy", header.getvalue() + images.tobytes())
    raw = bytearray(path.read_bytes())
    size = len(header.getvalue()) + claimed * resolution * resolution * 3
    struct.pack_into("<I", raw, 22, size)  # local file header: uncompressed size
    central = raw.rindex(b"PK\x01\x02")
    struct.pack_into("<I", raw, central + 24, size)  # central directory entry: uncompressed size
    path.write_bytes(bytes(raw))
    assert inspect_archive(path).num_images == claimed  # the headers agree with each other: only the data is short
    return path


@pytest.fixture()
def pair(tmp_path):
    ref = write_archive(tmp_path / "ref.npz", gratings(40, 16, seed=3))
    sample = write_archive(tmp_path / "sample.npz", gratings(30, 16, seed=4, contrast=0.6))
    return ref, sample


# -- 1. the cache key is the SHA-256 of the archive's bytes, hashed on every evaluation -----------------------------


def test_an_archive_that_rotted_after_caching_is_not_served_its_old_features(tmp_path):
    path = write_archive(tmp_path / "a.npz", gratings(40, 16, seed=1))
    cache = FeatureCache(tmp_path / "cache")
    ex = RandomCNNExtractor()
    extract.extract_features(path, ex, 8, cache)
    raw = bytearray(path.read_bytes())
    raw[_member_data_offset(path) + 5000] ^= 0x5A  # one byte rots on disk; the zip directory still looks fine
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="CRC"):
        extract.extract_features(path, ex, 8, cache)
    assert not list((cache.root / "features").glob("*.partial*"))


def test_an_archive_with_a_forged_crc_gets_its_own_features(tmp_path):
    images = gratings(40, 16, seed=1)
    a = write_archive(tmp_path / "a.npz", images)
    with zipfile.ZipFile(a) as zf:
        member = bytearray(zf.read("arr_0.npy"))
        crc = zf.getinfo("arr_0.npy").CRC
    start = len(member) - images.nbytes
    member[start : start + 16 * 16 * 3] = bytes(255 - images[0].reshape(-1))  # another first image...
    _force_crc32(member, len(member) - 4, crc)  # ...and 4 bytes of the last one make the CRC-32 equal again
    other = np.frombuffer(bytes(member[start:]), np.uint8).reshape(images.shape).copy()
    b = write_archive(tmp_path / "b.npz", other)
    with zipfile.ZipFile(b) as zf:
        assert zf.testzip() is None and zf.getinfo("arr_0.npy").CRC == crc  # a valid archive, same CRC and size
    cache = FeatureCache(tmp_path / "cache")
    ex = RandomCNNExtractor()
    extract.extract_features(a, ex, 8, cache)
    feats, _, hit = extract.extract_features(b, ex, 8, cache)
    assert not hit
    np.testing.assert_array_equal(feats.pool, ex.extract(other).pool)


def test_results_record_the_sha256_of_both_archives(pair, tmp_path):
    ref, sample = pair
    result = evaluate(ref, sample, RandomCNNExtractor(), EvalSettings(), FeatureCache(tmp_path / "cache")).to_dict()
    assert result["reference"]["sha256"] == hashlib.sha256(ref.read_bytes()).hexdigest()
    assert result["sample"]["sha256"] == hashlib.sha256(sample.read_bytes()).hexdigest()


# -- 2. cached features and radii carry their SHA-256 ---------------------------------------------------------------


def _overwrite_floats(path: Path, dataset: str, values: np.ndarray) -> None:
    """Overwrite bytes of a dataset's data in place, below HDF5 (as a failing disk would)."""
    with h5py.File(path, "r") as f:
        offset = f[dataset].id.get_offset()
    with open(path, "r+b") as fh:
        fh.seek(offset + 4 * 7)
        fh.write(values.astype("<f4").tobytes())


def test_flipped_bytes_in_cached_features_are_detected_and_rebuilt(pair, tmp_path):
    ref, sample = pair
    cache = FeatureCache(tmp_path / "cache")
    first = evaluate(ref, sample, RandomCNNExtractor(), EvalSettings(), cache).to_dict()
    entries = sorted((cache.root / "features").glob("*.h5"))
    assert len(entries) == 2
    for path in entries:
        _overwrite_floats(path, "pool", np.full(16, 1e10))  # 64 bytes of finite nonsense
    again = evaluate(ref, sample, RandomCNNExtractor(), EvalSettings(), cache).to_dict()
    assert not again["sample"]["features_from_cache"] and not again["reference"]["features_from_cache"]
    for key in ("fid", "sfid", "inception_score", "precision", "recall"):
        assert again[key] == first[key]
    assert evaluate(ref, sample, RandomCNNExtractor(), EvalSettings(), cache).to_dict()["sample"]["features_from_cache"]


def test_flipped_bytes_in_cached_radii_are_detected_and_recomputed(pair, tmp_path, monkeypatch):
    ref, sample = pair
    cache = FeatureCache(tmp_path / "cache")
    first = evaluate(ref, sample, RandomCNNExtractor(), EvalSettings(), cache).to_dict()
    (radii,) = (cache.root / "radii").glob("*.h5")
    _overwrite_floats(radii, "radii", np.zeros(16))  # finite and non-negative, but not these features' radii
    calls = {"n": 0}
    real = evaluate_mod.manifold_radii

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate_mod, "manifold_radii", counting)
    again = evaluate(ref, sample, RandomCNNExtractor(), EvalSettings(), cache).to_dict()
    assert calls["n"] == 1
    assert (again["precision"], again["recall"]) == (first["precision"], first["recall"])


def test_hdf5_never_parses_a_cache_file_that_fails_its_checksum(pair, tmp_path, monkeypatch):
    ref, sample = pair
    cache = FeatureCache(tmp_path / "cache")
    first = evaluate(ref, sample, RandomCNNExtractor(), EvalSettings(), cache).to_dict()
    entries = sorted((cache.root / "features").glob("*.h5")) + sorted((cache.root / "radii").glob("*.h5"))
    assert len(entries) == 3
    for path in entries:
        with h5py.File(path, "r") as f:  # still plain HDF5 for any tool
            assert f.userblock_size == 512
        data = bytearray(path.read_bytes())
        data[512:520] = b"garbage!"  # the HDF5 signature itself: a file HDF5 would choke on
        path.write_bytes(bytes(data))
    opened = []
    real_file = cache_mod.h5py.File

    def recording(name, *args, **kwargs):
        opened.append(name)
        return real_file(name, *args, **kwargs)

    monkeypatch.setattr(cache_mod.h5py, "File", recording)
    again = evaluate(ref, sample, RandomCNNExtractor(), EvalSettings(), cache).to_dict()
    assert not again["sample"]["features_from_cache"] and not again["reference"]["features_from_cache"]
    assert again["precision"] == first["precision"] and again["fid"] == first["fid"]
    # Only the rebuilt entries' in-memory images were opened, never a file from disk.
    assert opened and all(isinstance(name, io.BytesIO) for name in opened)


def test_a_resealed_file_is_still_checked_inside(pair, tmp_path):
    ref, sample = pair
    cache = FeatureCache(tmp_path / "cache")
    evaluate(ref, sample, RandomCNNExtractor(), EvalSettings(), cache).to_dict()
    entries = sorted((cache.root / "features").glob("*.h5"))
    for path in entries:
        _overwrite_floats(path, "pool", np.full(16, 1e10))
        reseal(path)  # the user block now vouches for the damaged bytes: the arrays' own SHA-256 still refuses them
    again = evaluate(ref, sample, RandomCNNExtractor(), EvalSettings(), cache).to_dict()
    assert not again["sample"]["features_from_cache"] and not again["reference"]["features_from_cache"]


def test_a_damaged_checkpoint_is_extracted_again_on_resume(tmp_path, monkeypatch):
    images = gratings(64, 16, seed=2)
    path = write_archive(tmp_path / "a.npz", images)
    monkeypatch.setattr(extract, "_CHECKPOINT_EVERY", 16)
    ex = RandomCNNExtractor()
    real, calls = ex.extract, {"n": 0}

    def interrupted(batch):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(batch)

    ex.extract = interrupted
    cache = FeatureCache(tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        extract.extract_features(path, ex, 8, cache)
    checkpoints = [p for p in _files(cache.root / "features") if ".partial" in str(p)]
    assert checkpoints
    _overwrite_floats(checkpoints[0], "pool", np.full(16, 1e10))  # the first checkpoint's rows rot
    ex.extract = real
    feats, _, _ = extract.extract_features(path, ex, 8, cache)
    np.testing.assert_allclose(feats.pool, real(images).pool, rtol=1e-6)


# -- 7 and 11. checkpoints grow with the images read; a damaged archive leaves none ---------------------------------


def test_checkpoints_grow_with_the_images_read_not_with_the_headers_claim(tmp_path, monkeypatch):
    path = _lying_archive(tmp_path / "liar.npz", held=240, claimed=200_000)  # claims 153.6 MB of images
    monkeypatch.setattr(extract, "_CHECKPOINT_EVERY", 16)
    ex = RandomCNNExtractor()
    real, calls = ex.extract, {"n": 0}

    def interrupted(images):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # killed after 4 batches of 8: two checkpoints of 16 images
        return real(images)

    ex.extract = interrupted
    cache = FeatureCache(tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        extract.extract_features(path, ex, 8, cache)
    written = _files(cache.root / "features")
    assert written  # the checkpoints of a killed run stay, to be resumed
    assert sum(p.stat().st_size for p in written) < 200_000  # 32 images' features, not 200 000 images' worth


@pytest.mark.parametrize("damage", ["bad_crc", "short_data"])
def test_a_damaged_archive_leaves_no_checkpoint_behind(tmp_path, monkeypatch, damage):
    if damage == "bad_crc":
        path = write_archive(tmp_path / "a.npz", gratings(120, 16, seed=1))
        raw = bytearray(path.read_bytes())
        raw[_member_data_offset(path) + 100 * 16 * 16 * 3] ^= 0xFF  # in image 100, after several checkpoints
        path.write_bytes(bytes(raw))
    else:
        path = _lying_archive(tmp_path / "a.npz", held=120, claimed=3000)
    monkeypatch.setattr(extract, "_CHECKPOINT_EVERY", 16)
    cache = FeatureCache(tmp_path / "cache")
    with pytest.raises(InputError):
        extract.extract_features(path, RandomCNNExtractor(), 8, cache)
    assert _files(cache.root / "features") == []
    assert not list((cache.root / "features").glob("*.partial*"))


# -- 10. an unusable cache is a warning; the evaluation goes on and leaves nothing broken ---------------------------


def test_a_directory_at_a_cache_entry_path_is_a_warning_not_a_traceback(pair, tmp_path):
    ref, sample = pair
    cache = tmp_path / "cache"
    args = ["evaluate", str(ref), str(sample), *EXTRACTOR, "--format", "json", "--quiet", "--cache-dir", str(cache)]
    first = CliRunner().invoke(main, args, catch_exceptions=False)
    assert first.exit_code == 0
    for path in [*(cache / "features").glob("*.h5"), *(cache / "radii").glob("*.h5")]:
        path.unlink()
        (path / "keep").mkdir(parents=True)  # something that is not ours, in the way
    out = CliRunner().invoke(main, args, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "warning:" in out.stderr and "is not a regular file" in out.stderr and "Traceback" not in out.stderr
    assert json.loads(out.stdout)["fid"] == json.loads(first.stdout)["fid"]
    assert all((p / "keep").is_dir() for p in (cache / "features").glob("*.h5"))  # left untouched


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_a_cache_write_that_hits_the_file_size_limit_is_a_warning_and_leaves_nothing(pair, tmp_path):
    ref, sample = pair
    common = ["cli.py", "evaluate", str(ref), str(sample), *EXTRACTOR, "--format", "json", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    plain = evaluate(ref, sample, RandomCNNExtractor(), EvalSettings()).to_dict()
    cache = tmp_path / "cache"
    limited = subprocess.run([sys.executable, *common, "--cache-dir", str(cache)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300, preexec_fn=_limit_file_size)  # fmt: skip
    assert limited.returncode == 0, limited.stderr[-3000:]
    assert "Traceback" not in limited.stderr and "File too large" in limited.stderr
    assert all(line.startswith("warning: ") for line in limited.stderr.splitlines())
    limited_result = json.loads(limited.stdout)
    for key in ("precision", "recall", "inception_score"):
        assert limited_result[key] == plain[key]
    for key in ("fid", "sfid"):  # one BLAS thread there, the test process's threads here: last-digit differences
        assert limited_result[key] == pytest.approx(plain[key], rel=1e-7)
    assert _files(cache) == []  # no half-written entry, temporary file or checkpoint for the next run to trip on
