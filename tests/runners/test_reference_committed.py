"""The committed reference_stats/: every file matches its manifest sha256; Fashion-MNIST batches are as documented."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from benchmark.data.reference_manifest import REFERENCE_DIR
from benchmark.data.transforms import prepare_images
from runners.reference_build import select_indices
from tests.data.fmnist_files import load_split_or_fail

MANIFEST = json.loads((REFERENCE_DIR / "manifest.json").read_text())
BATCHES = sorted(name for name, e in MANIFEST["files"].items() if e.get("kind") == "reference-batch")


def test_every_manifest_entry_matches_its_file():
    assert "fmnist-cnn.safetensors" in MANIFEST["files"]
    for name, entry in MANIFEST["files"].items():
        assert hashlib.sha256((REFERENCE_DIR / name).read_bytes()).hexdigest() == entry["sha256"], name


def test_presets_have_their_reference_batches():
    for resolution in (16, 32):
        assert f"fmnist-train-{resolution}x{resolution}x1-fmnist-cnn.npz" in BATCHES


@pytest.mark.parametrize("name", BATCHES)
def test_fashion_mnist_reference_batch(name):
    entry = MANIFEST["files"][name]
    weights = MANIFEST["files"]["fmnist-cnn.safetensors"]
    assert entry["dataset"] == "fashion-mnist" and entry["split"] == "train"
    assert entry["extractor"] == "fmnist-cnn" and entry["extractor_weights_sha256"] == weights["sha256"]
    assert entry["num_images_stats"] == 60000 and entry["num_images_arr_0"] == 10000
    assert (REFERENCE_DIR / name).stat().st_size < 10_000_000
    r, c = entry["resolution"], entry["channels"]
    images, _ = load_split_or_fail("train")
    with np.load(REFERENCE_DIR / name) as ref:
        arr_0 = ref["arr_0"]
        assert arr_0.shape == (10000, r, r, c) and arr_0.dtype == np.uint8
        # arr_0: the seeded subset of the prepared training split, in dataset order.
        chosen = select_indices(60000, 10000, entry["seed"])
        np.testing.assert_array_equal(arr_0, prepare_images(images[chosen], r, c))
        mu, sigma, mu_s, sigma_s = ref["mu"], ref["sigma"], ref["mu_s"], ref["sigma_s"]
    assert mu.shape == (128,) and sigma.shape == (128, 128) and mu.dtype == np.float64
    assert mu_s.shape == (392,) and sigma_s.shape == (392, 392)
    np.testing.assert_array_equal(sigma, sigma.T)
    assert np.linalg.eigvalsh(sigma).min() > -1e-9 and (mu >= 0).all()  # pool features are post-ReLU


@pytest.mark.parametrize("name", BATCHES)
def test_statistics_agree_with_the_arr_0_sample(name):
    from benchmark.extractors.fmnist_cnn import FashionCNNExtractor

    with np.load(REFERENCE_DIR / name) as ref:
        arr_0, mu, sigma = ref["arr_0"], ref["mu"], ref["sigma"]
    pool = FashionCNNExtractor().extract(arr_0).pool.astype(np.float64)
    # arr_0 is a 1/6 random subset of the images behind mu: its mean lies within a few standard errors
    # (finite-population corrected) of mu in every dimension.
    stderr = np.sqrt(np.diag(sigma) / len(pool) * (1 - len(pool) / 60000))
    assert (np.abs(pool.mean(axis=0) - mu) <= 5 * stderr + 1e-6).all()
    np.testing.assert_allclose(np.cov(pool, rowvar=False), sigma, atol=0.1 * np.abs(sigma).max())
