"""The committed Fashion-MNIST proxy extractor: weights integrity, accuracy, contract and input handling."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmark.data.reference_manifest import REFERENCE_DIR
from benchmark.data.transforms import prepare_images
from benchmark.errors import InputError
from benchmark.extractors import fmnist_cnn
from benchmark.extractors.base import ExtractorOptions
from benchmark.extractors.registry import build_extractor, extractor_names
from tests.data.fmnist_files import load_split_or_fail


@pytest.fixture(scope="module")
def extractor():
    return fmnist_cnn.FashionCNNExtractor()


@pytest.fixture(scope="module")
def test_split():
    return load_split_or_fail("test")


def test_committed_weights_match_the_manifest():
    weights = REFERENCE_DIR / fmnist_cnn.WEIGHTS_FILE
    manifest = json.loads((REFERENCE_DIR / "manifest.json").read_text())
    entry = manifest["files"][fmnist_cnn.WEIGHTS_FILE]
    assert entry["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert weights.stat().st_size < 600_000
    assert entry["test_accuracy"] >= 0.90


def test_accuracy_on_the_test_split(extractor, test_split):
    images, labels = test_split
    logits = extractor.extract(images[..., None]).logits
    assert logits.shape == (10000, 10)
    assert (logits.argmax(1) == labels).mean() >= 0.90
    # The preset pipelines (32x32 padded canvas, 16x16 smoke size; RGB) still classify well.
    for resolution in (32, 16):
        prepared = prepare_images(images, resolution, 3)
        accuracy = (extractor.extract(prepared).logits.argmax(1) == labels).mean()
        assert accuracy >= 0.85, (resolution, accuracy)


def test_info_and_registry(extractor):
    info = extractor.info
    assert info.name == "fmnist-cnn" and "fmnist-cnn" in extractor_names()
    assert info.reference_inception is False and "NOT Inception" in info.description
    assert info.weights_sha256 == hashlib.sha256((REFERENCE_DIR / fmnist_cnn.WEIGHTS_FILE).read_bytes()).hexdigest()
    built = build_extractor("fmnist-cnn", ExtractorOptions(batch_size=17))
    assert built.info == info
    feats = built.extract(np.zeros((3, 28, 28, 1), np.uint8))
    assert feats.pool.shape == (3, info.pool_dim) and feats.spatial.shape == (3, info.spatial_dim)
    assert feats.logits.shape == (3, info.logits_dim) and feats.pool.dtype == np.float32


def test_outputs_follow_the_documented_layers(extractor, test_split):
    images = test_split[0][:5]
    feats = extractor.extract(images[..., None])
    net = fmnist_cnn.load_network(REFERENCE_DIR / fmnist_cnn.WEIGHTS_FILE)[0]
    with torch.no_grad():
        x = torch.from_numpy(images).float()[:, None] / 127.5 - 1
        x = F.max_pool2d(F.relu(net.bn1(net.conv1(x))), 2)
        x = F.max_pool2d(F.relu(net.bn2(net.conv2(x))), 2)
        h = net.bn3(net.conv3(x))
        pool = F.relu(net.fc1(F.max_pool2d(F.relu(h), 2).flatten(1)))
        logits = pool @ net.fc2.weight.T
    assert net.fc2.bias is None
    np.testing.assert_allclose(feats.pool, pool.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(feats.logits, logits.numpy(), rtol=1e-5, atol=1e-4)
    # spatial: first 8 channels of the 7x7 map, flattened in H, W, C order.
    spatial = feats.spatial.reshape(5, 7, 7, 8)
    np.testing.assert_allclose(spatial[:, 3, 4, 5], h[:, 5, 3, 4].numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(spatial, h[:, :8].permute(0, 2, 3, 1).numpy(), rtol=1e-5, atol=1e-5)


def test_gray_rgb_and_batch_size_independence(extractor, test_split):
    images = test_split[0][:64]
    gray = extractor.extract(images[..., None])
    rgb = extractor.extract(np.repeat(images[..., None], 3, axis=-1))
    np.testing.assert_allclose(rgb.pool, gray.pool, rtol=1e-6, atol=1e-6)
    small = fmnist_cnn.FashionCNNExtractor(batch_size=5).extract(images[..., None])
    np.testing.assert_allclose(small.pool, gray.pool, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(small.spatial, gray.spatial, rtol=1e-4, atol=1e-5)


def test_other_sizes_are_resized_to_28(extractor, test_split):
    images = prepare_images(test_split[0][:8], 32, 1)
    resized = F.interpolate(torch.from_numpy(images).permute(0, 3, 1, 2).float(), size=(28, 28), mode="bilinear",
                            align_corners=False, antialias=True)  # fmt: skip
    net = fmnist_cnn.load_network(REFERENCE_DIR / fmnist_cnn.WEIGHTS_FILE)[0]
    with torch.no_grad():
        expected = net(resized / 127.5 - 1)[0].numpy()
    np.testing.assert_allclose(extractor.extract(images).pool, expected, rtol=1e-5, atol=1e-5)


def test_bad_input_is_rejected(extractor):
    with pytest.raises(ValueError):
        extractor.extract(np.zeros((2, 28, 28, 1), np.float32))
    with pytest.raises(ValueError):
        extractor.extract(np.zeros((2, 28, 28), np.uint8))


def test_tampered_weights_are_refused(tmp_path):
    shutil.copy(REFERENCE_DIR / "manifest.json", tmp_path / "manifest.json")
    data = bytearray((REFERENCE_DIR / fmnist_cnn.WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0x01
    (tmp_path / fmnist_cnn.WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(InputError, match="does not match the manifest"):
        build_extractor("fmnist-cnn", ExtractorOptions(weights_path=tmp_path / fmnist_cnn.WEIGHTS_FILE))
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(InputError, match="cannot verify"):
        fmnist_cnn.FashionCNNExtractor(tmp_path / fmnist_cnn.WEIGHTS_FILE)
