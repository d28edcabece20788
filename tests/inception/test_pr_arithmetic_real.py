"""Precision / recall in the `cpu-tf` arithmetic equal the reference evaluator's on real Inception features
(the 2015-12-05 weights from NVIDIA's TorchScript layers) and on the synthetic graph's features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.evaluation.distances import PRArithmetic
from benchmark.evaluation.metrics import manifold_radii, precision_recall
from benchmark.extractors.base import ExtractorOptions
from benchmark.extractors.registry import build_extractor
from tests.evaluation.tf_reference_pr import TFDistanceBlock
from tests.inception.conftest import smooth_images
from tests.inception.nvidia_reference import nvidia_features
from tests.inception.test_real_weights import fmnist_rgb

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")


@pytest.fixture(scope="module")
def tf_block() -> TFDistanceBlock:
    return TFDistanceBlock()


@pytest.fixture(scope="module")
def real_pool(nvidia_layers: torch.jit.ScriptModule) -> tuple[np.ndarray, np.ndarray]:
    """Pool features of Fashion-MNIST garments (upsampled, tinted RGB): two independent draws."""
    ref = nvidia_features(nvidia_layers, fmnist_rgb(np.random.default_rng(21), 160, 64))[0]
    sample = nvidia_features(nvidia_layers, fmnist_rgb(np.random.default_rng(22), 150, 64))[0]
    return ref.astype(np.float32), sample.astype(np.float32)


def test_real_inception_features_precision_recall_equal_the_reference(real_pool, tf_block):
    ref, sample = real_pool
    for block in (10000, 64):
        expected = tf_block.precision_recall(ref, sample, batch=block)
        assert precision_recall(ref, sample, block_size=block, arithmetic=PRArithmetic.CPU_TF) == expected
    ours = manifold_radii(torch.from_numpy(ref), 3, 10000, PRArithmetic.CPU_TF).numpy()
    np.testing.assert_array_equal(ours.view(np.uint32), tf_block.radii(ref, 3, 10000).view(np.uint32))


def test_synthetic_graph_features_precision_recall_equal_the_reference(test_graph, tf_block):
    extractor = build_extractor("inception-v3", ExtractorOptions(weights_path=test_graph, batch_size=16))
    ref = extractor.extract(smooth_images(np.random.default_rng(1), 150, 64)).pool
    sample = extractor.extract(smooth_images(np.random.default_rng(2), 140, 64)).pool
    expected = tf_block.precision_recall(ref, sample)
    assert precision_recall(ref, sample, arithmetic=PRArithmetic.CPU_TF) == expected
