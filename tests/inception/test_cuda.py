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
