"""GPU checks of the Inception port (`pytest -m cuda`, part of `make gpu-check`); skipped without a CUDA GPU."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from benchmark.extractors.inception import InceptionV3
from tests.inception.conftest import rel_err, smooth_images

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_features_on_the_gpu_match_the_cpu(fast_net: InceptionV3) -> None:
    images = torch.from_numpy(smooth_images(np.random.default_rng(5), 8, 299))
    with torch.inference_mode():
        cpu = [t.numpy() for t in fast_net(images)]
        gpu_net = copy.deepcopy(fast_net).cuda()
        gpu = [t.cpu().numpy() for t in gpu_net(images.cuda())]
    for name, a, b in zip(("pool", "spatial", "logits"), gpu, cpu):
        assert rel_err(a, b) < 1e-4, name


def test_cpu_tf_precision_recall_on_the_gpu_equal_the_cpu() -> None:
    from benchmark.evaluation.distances import PRArithmetic
    from benchmark.evaluation.metrics import manifold_radii, precision_recall

    rng = np.random.default_rng(9)
    ref = rng.gamma(0.3, 0.6, (600, 2048)).astype(np.float32)
    sample = rng.gamma(0.3, 0.62, (500, 2048)).astype(np.float32)
    for block in (10000, 128):
        cpu = precision_recall(ref, sample, block_size=block, arithmetic=PRArithmetic.CPU_TF)
        gpu = precision_recall(ref, sample, block_size=block, arithmetic=PRArithmetic.CPU_TF, device="cuda")
        assert gpu == cpu
    radii_cpu = manifold_radii(torch.from_numpy(ref), 3, 10000, PRArithmetic.CPU_TF).numpy()
    radii_gpu = manifold_radii(torch.from_numpy(ref).cuda(), 3, 10000, PRArithmetic.CPU_TF).cpu().numpy()
    np.testing.assert_array_equal(radii_gpu.view(np.uint32), radii_cpu.view(np.uint32))
