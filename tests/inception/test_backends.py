"""The PyTorch port against TensorFlow running the same GraphDef (the reference evaluator's path)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark.errors import InputError
from benchmark.extractors.base import ExtractorOptions, FeatureExtractor
from benchmark.extractors.registry import build_extractor
from tests.inception.conftest import rel_err, smooth_images

TOL = 1e-4


@pytest.fixture(scope="module")
def tf_extractor(test_graph: Path) -> FeatureExtractor:
    pytest.importorskip("tensorflow")
    return build_extractor("inception-v3", ExtractorOptions(weights_path=test_graph, backend="tf", batch_size=4))


@pytest.fixture(scope="module")
def torch_extractor(test_graph: Path) -> FeatureExtractor:
    return build_extractor("inception-v3", ExtractorOptions(weights_path=test_graph, backend="torch", batch_size=4))


@pytest.mark.tf
@pytest.mark.parametrize("size", [32, 64, 128, 256, 299, 512])
def test_torch_matches_tf_graph(size: int, tf_extractor: FeatureExtractor, torch_extractor: FeatureExtractor) -> None:
    images = smooth_images(np.random.default_rng(size), 2, size)
    expected = tf_extractor.extract(images)
    ours = torch_extractor.extract(images)
    assert ours.pool.shape == (2, 2048) and ours.spatial.shape == (2, 2023) and ours.logits.shape == (2, 1008)
    for name in ("pool", "spatial", "logits"):
        err = rel_err(getattr(ours, name), getattr(expected, name))
        assert err < TOL, f"{name} at {size}px: relative error {err:.2e}"
    # The features must carry signal (a dead network would match trivially).
    assert np.abs(expected.spatial).max() > 0.1 and np.abs(expected.logits).std() > 0.5


@pytest.mark.tf
def test_tf_backend_identity(tf_extractor: FeatureExtractor, torch_extractor: FeatureExtractor) -> None:
    assert tf_extractor.info.backend == "tf" and torch_extractor.info.backend == "torch"
    assert tf_extractor.info.weights_sha256 == torch_extractor.info.weights_sha256
    assert not tf_extractor.info.reference_inception


def test_tf_backend_needs_a_graph_file(tmp_path: Path, graph_weights: dict) -> None:
    pytest.importorskip("tensorflow")
    import torch

    pth = tmp_path / "weights.pth"
    torch.save(graph_weights, pth)
    with pytest.raises(InputError, match="needs a .pb"):
        build_extractor("inception-v3", ExtractorOptions(weights_path=pth, backend="tf"))


def test_missing_tensorflow_names_the_extra(test_graph: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # makes `import tensorflow` raise ImportError
    with pytest.raises(InputError, match=r"pip install 'admbench\[tf\]'"):
        build_extractor("inception-v3", ExtractorOptions(weights_path=test_graph, backend="tf"))


def test_unknown_backend(test_graph: Path) -> None:
    with pytest.raises(InputError, match="backend"):
        build_extractor("inception-v3", ExtractorOptions(weights_path=test_graph, backend="onnx"))
