"""Properties of the PyTorch port that do not need TensorFlow: layouts, fusion, sFID layer, IS logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmark.extractors.base import ExtractorOptions
from benchmark.extractors.inception import InceptionV3
from benchmark.extractors.registry import build_extractor
from tests.inception.conftest import rel_err, smooth_images


def _run(net: InceptionV3, images: np.ndarray | torch.Tensor) -> tuple[np.ndarray, ...]:
    x = torch.from_numpy(images) if isinstance(images, np.ndarray) else images
    with torch.inference_mode():
        return tuple(t.numpy() for t in net(x))


def test_fused_matches_straightforward(reference_net: InceptionV3, fast_net: InceptionV3) -> None:
    # Folding BN and merging 1x1 heads only re-orders float32 rounding; the 94-layer random network amplifies
    # that to ~2e-5, inside the 1e-4 budget the port has against TensorFlow.
    images = smooth_images(np.random.default_rng(0), 2, 48)
    for ours, ref in zip(_run(fast_net, images), _run(reference_net, images)):
        assert rel_err(ours, ref) < 1e-4


def test_input_layouts_and_grayscale(fast_net: InceptionV3) -> None:
    images = smooth_images(np.random.default_rng(1), 2, 40)
    nhwc = _run(fast_net, images)
    nchw = _run(fast_net, np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    for a, b in zip(nhwc, nchw):
        np.testing.assert_array_equal(a, b)
    gray = images[..., :1]
    for a, b in zip(_run(fast_net, gray), _run(fast_net, np.repeat(gray, 3, axis=-1))):
        np.testing.assert_array_equal(a, b)


def test_spatial_is_mixed_6_conv_in_hwc_order(reference_net: InceptionV3) -> None:
    captured: list[torch.Tensor] = []
    hook = reference_net.Mixed_6d.branch1x1.register_forward_hook(lambda m, i, o: captured.append(o.clone()))
    try:
        images = smooth_images(np.random.default_rng(2), 2, 64)
        _, spatial, _ = _run(reference_net, images)
    finally:
        hook.remove()
    act = captured[0].numpy()  # [N, 192, 17, 17], post-ReLU
    assert act.shape == (2, 192, 17, 17) and act.min() >= 0
    expected = np.zeros((2, 2023), np.float32)
    for n in range(2):
        for h in range(17):
            for w in range(17):
                for c in range(7):
                    expected[n, (h * 17 + w) * 7 + c] = act[n, c, h, w]
    np.testing.assert_array_equal(spatial, expected)


def test_logits_are_pool_times_weights_without_bias(reference_net: InceptionV3) -> None:
    pool, _, logits = _run(reference_net, smooth_images(np.random.default_rng(3), 2, 32))
    weight = reference_net.fc.weight.detach().double().numpy()
    expected = pool.astype(np.float64) @ weight.T
    assert rel_err(logits, expected) < 1e-6
    with_bias = expected + reference_net.fc.bias.detach().double().numpy()
    assert rel_err(logits, with_bias) > 1e-3  # the bias is really left out


def test_batch_independence_and_contract(test_graph: Path) -> None:
    extractor = build_extractor("inception-v3", ExtractorOptions(weights_path=test_graph, batch_size=2))
    images = smooth_images(np.random.default_rng(4), 3, 36)
    together = extractor.extract(images)
    alone = [extractor.extract(images[i : i + 1]) for i in range(3)]
    assert together.pool.dtype == np.float32 and len(together) == 3
    for name in ("pool", "spatial", "logits"):
        stacked = np.concatenate([getattr(a, name) for a in alone])
        assert rel_err(getattr(together, name), stacked) < 1e-6
    empty = extractor.extract(np.zeros((0, 32, 32, 3), np.uint8))
    assert empty.pool.shape == (0, 2048) and empty.spatial.shape == (0, 2023) and empty.logits.shape == (0, 1008)
    info = extractor.info
    assert (info.name, info.pool_dim, info.spatial_dim, info.logits_dim) == ("inception-v3", 2048, 2023, 1008)


def test_compiled_extractor_is_a_separate_backend(test_graph: Path) -> None:
    plain = build_extractor("inception-v3", ExtractorOptions(weights_path=test_graph))
    compiled = build_extractor("inception-v3", ExtractorOptions(weights_path=test_graph, compile=True))
    assert (plain.info.backend, compiled.info.backend) == ("torch", "torch+compile")
    assert plain.info.weights_sha256 == compiled.info.weights_sha256
