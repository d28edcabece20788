"""Reference builds on generated data: statistics against np.mean / np.cov, arr_0 contents, manifest, atomicity."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.data.npz_dataset import NpzImageDataset
from benchmark.extractors.random_cnn import RandomCNNExtractor
from runners import reference_build
from runners.reference_build import build_reference


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(53, 16, 16, 3), dtype=np.uint8)
    path = tmp_path / "tiny.npz"
    np.savez(path, arr_0=images, arr_1=rng.integers(0, 4, size=53))
    return NpzImageDataset(path)


@pytest.fixture
def extractor():
    return RandomCNNExtractor(batch_size=13)


def test_statistics_equal_numpy_on_all_features(tmp_path, dataset, extractor):
    out = tmp_path / "refs" / "tiny-ref.npz"
    build_reference(dataset, extractor, out, num_images=20, seed=5, batch_size=7, log=lambda _: None)
    # Features of every image, batched as the build batches them (float32 conv results depend on batch size).
    parts = [extractor.extract(dataset.images[i : i + 7]) for i in range(0, 53, 7)]
    pool = np.concatenate([p.pool for p in parts])
    spatial = np.concatenate([p.spatial for p in parts])
    with np.load(out) as ref:
        assert sorted(ref.files) == ["arr_0", "mu", "mu_s", "sigma", "sigma_s"]
        for key, feats in (("", pool), ("_s", spatial)):
            x = feats.astype(np.float64)
            assert ref["mu" + key].dtype == np.float64 and ref["sigma" + key].dtype == np.float64
            np.testing.assert_allclose(ref["mu" + key], x.mean(axis=0), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(ref["sigma" + key], np.cov(x, rowvar=False), rtol=1e-8, atol=1e-10)


def test_arr_0_is_the_documented_seeded_subset(tmp_path, dataset, extractor):
    out = tmp_path / "ref.npz"
    build_reference(dataset, extractor, out, num_images=20, seed=5, log=lambda _: None)
    expected = np.sort(np.random.default_rng(5).choice(53, size=20, replace=False))
    with np.load(out) as ref:
        assert ref["arr_0"].dtype == np.uint8 and ref["arr_0"].shape == (20, 16, 16, 3)
        np.testing.assert_array_equal(ref["arr_0"], dataset.images[expected])
    # Asking for at least as many images as the dataset has keeps all of them, in order.
    build_reference(dataset, extractor, out, num_images=500, log=lambda _: None)
    with np.load(out) as ref:
        np.testing.assert_array_equal(ref["arr_0"], dataset.images)


def test_manifest_entry(tmp_path, dataset, extractor):
    out = tmp_path / "ref.npz"
    build_reference(dataset, extractor, out, num_images=10, log=lambda _: None)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entry = manifest["files"]["ref.npz"]
    assert entry["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert entry["num_images_stats"] == 53 and entry["num_images_arr_0"] == 10
    assert entry["resolution"] == 16 and entry["channels"] == 3 and entry["dataset"] == "npz"
    assert entry["extractor"] == extractor.info.name
    assert entry["extractor_weights_sha256"] == extractor.info.weights_sha256
    assert entry["reference_inception"] is False
    assert entry["admbench_version"]


def test_failed_write_keeps_the_previous_file(tmp_path, dataset, extractor, monkeypatch):
    out = tmp_path / "ref.npz"
    build_reference(dataset, extractor, out, num_images=10, log=lambda _: None)
    before = out.read_bytes()
    manifest_before = (tmp_path / "manifest.json").read_bytes()

    def failing_savez(file, **arrays):
        with open(file, "wb") as f:
            f.write(b"PK\x03\x04 half written")
        raise OSError("disk full")

    monkeypatch.setattr(reference_build.np, "savez_compressed", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        build_reference(dataset, extractor, out, num_images=5, log=lambda _: None)
    assert out.read_bytes() == before
    assert (tmp_path / "manifest.json").read_bytes() == manifest_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "ref.npz", "tiny.npz"]


def test_failed_extraction_writes_nothing(tmp_path, dataset, extractor, monkeypatch):
    def broken(images):
        raise RuntimeError("extractor crashed")

    monkeypatch.setattr(extractor, "extract", broken)
    with pytest.raises(RuntimeError):
        build_reference(dataset, extractor, tmp_path / "new.npz", log=lambda _: None)
    assert not (tmp_path / "new.npz").exists() and not (tmp_path / "manifest.json").exists()


def test_cli_build_and_bad_input(tmp_path, dataset):
    runner = CliRunner()
    out = tmp_path / "cli-ref.npz"
    args = ["reference", "build", str(dataset.path), "--extractor", "random-cnn-test", "--num-images", "8"]
    result = runner.invoke(main, args + ["--out", str(out)])
    assert result.exit_code == 0, result.output
    with np.load(out) as ref:
        assert ref["arr_0"].shape == (8, 16, 16, 3)
    result = runner.invoke(main, args + ["--out", str(out), "--resolution", "32"])
    assert result.exit_code == 2 and "expected 32x32" in result.output
    result = runner.invoke(main, ["reference", "build", str(tmp_path / "nope.txt"), "--extractor", "random-cnn-test"])
    assert result.exit_code == 2 and "unknown dataset" in result.output
