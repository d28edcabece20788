"""The reference side of the real-weights tests: NVIDIA's own `layers` module, fed the way NVIDIA's file feeds it.

The resize is NVIDIA's (affine_grid + grid_sample, bilinear, border, align_corners=False, with the translation
1/W - 1/299 that makes it sample at i * W / 299, i.e. TF1's legacy ResizeBilinear), then (x - 128) / 128. Nothing
here uses admbench's network or resize. Also: NVIDIA's file layout (`layers` plus an `output` Linear) written
around the real `layers`, and a straightforward FID / precision-recall in numpy/scipy for the end-to-end check.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
import torch.nn as nn
import torch.nn.functional as F

SIZE = 299


def nvidia_resize(images: np.ndarray) -> torch.Tensor:
    """uint8 NHWC [N, H, W, 3] -> float32 NCHW [N, 3, 299, 299], normalized to (x - 128) / 128."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(torch.float32)
    n, c, h, w = x.shape
    theta = torch.eye(2, 3, dtype=torch.float32).repeat(n, 1, 1)
    theta[:, 0, 2] += 1.0 / w - 1.0 / SIZE
    theta[:, 1, 2] += 1.0 / h - 1.0 / SIZE
    grid = F.affine_grid(theta, [n, c, SIZE, SIZE], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return (x - 128.0) / 128.0


@torch.no_grad()
def nvidia_features(layers: torch.jit.ScriptModule, images: np.ndarray,
                    batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(pool [N, 2048], spatial [N, 2023]): the pool output of `layers`, and `mixed_6.conv` applied to the output
    of `mixed_5`, first 7 channels, flattened (h, w, c) as guided-diffusion's evaluator does."""
    pools, spatials = [], []
    for start in range(0, len(images), batch):
        x = nvidia_resize(images[start : start + batch])
        for name, module in layers.named_children():
            x = module(x)
            if name == "mixed_5":
                s = layers.mixed_6.conv(x)  # [n, 192, 17, 17]
                spatials.append(s[:, :7].permute(0, 2, 3, 1).reshape(len(s), -1).numpy())
        pools.append(x.reshape(len(x), -1).numpy())
    return np.concatenate(pools), np.concatenate(spatials)


class _NvidiaLayout(nn.Module):
    """NVIDIA's file layout: `layers` (the real module) and `output` (Linear 2048 -> 1008)."""

    def __init__(self, layers: torch.jit.ScriptModule, output: nn.Linear) -> None:
        super().__init__()
        self.layers = layers
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.layers(x).reshape(-1, 2048))


def write_nvidia_file(layers: torch.jit.ScriptModule, weight: torch.Tensor, bias: torch.Tensor, path: Path) -> None:
    """Save the real `layers` plus an `output` layer with the given values as one TorchScript file."""
    output = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        output.weight.copy_(weight)
        output.bias.copy_(bias)
    torch.jit.script(_NvidiaLayout(layers, output)).save(str(path))


#----------------------------------------------------------------------------
# Straightforward metrics (float64 numpy / scipy).

def plain_fid(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 sqrtm(S_a S_b)), np.cov and scipy.linalg.sqrtm."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # few samples: the covariances are singular, which sqrtm warns about
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(sa @ sb)
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(sa) + np.trace(sb) - 2 * np.trace(root).real)


def plain_precision_recall(ref: np.ndarray, sample: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision/recall: balls of radius = squared distance to the k-th neighbour (self excluded)."""
    def sq(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return ((u[:, None, :].astype(np.float64) - v[None, :, :]) ** 2).sum(-1)

    r_ref = np.sort(sq(ref, ref), axis=1)[:, k]
    r_sample = np.sort(sq(sample, sample), axis=1)[:, k]
    precision = float((sq(sample, ref) <= r_ref[None, :]).any(axis=1).mean())
    recall = float((sq(ref, sample) <= r_sample[None, :]).any(axis=1).mean())
    return precision, recall
