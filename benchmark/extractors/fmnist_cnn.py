"""Fashion-MNIST proxy extractor: a small trained CNN for CPU smoke runs, NOT Inception.

Numbers computed from its features are labelled "fmnist-cnn" everywhere; they are not Inception FID / sFID /
IS and are not comparable to any published value. Same three outputs as the Inception contract:
  - pool    [N, 128]: ReLU output of the penultimate fully connected layer (FID, precision / recall),
  - spatial [N, 392]: pre-activation (after batch norm) of the third conv layer (7x7), first 8 channels,
                      flattened in H, W, C order (mirrors Inception's mixed_6/conv sliced to 7 channels for sFID),
  - logits  [N, 10]:  bias-free class logits (mirrors the bias-free Inception IS logits).
Input: uint8 NHWC, 1 or 3 channels, any size. Colour is reduced to gray by the unweighted channel mean (exact
for gray images replicated to RGB); sizes other than 28x28 are resized to 28x28 with antialiased bilinear
interpolation (torch `interpolate`, align_corners=False); pixels map to [-1, 1] as x / 127.5 - 1.
Weights: `admbench reference train-extractor` (runners/train_extractor.py), trained on the native, the 32x32
padded and the 16x16 preset views of the training split; sha256-checked against reference_stats/manifest.json.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file

from benchmark.data.reference_manifest import REFERENCE_DIR, verify_against_manifest
from benchmark.errors import InputError
from benchmark.extractors.base import ExtractorInfo, ExtractorOptions, FeatureExtractor, Features
from benchmark.io.atomic import sha256_file

NAME = "fmnist-cnn"
SUMMARY = "small CNN trained on Fashion-MNIST: proxy features for CPU runs (NOT Inception; not Inception FID/IS)"
WEIGHTS_FILE = "fmnist-cnn.safetensors"

INPUT_SIZE = 28
NUM_CLASSES = 10
POOL_DIM = 128
SPATIAL_CHANNELS = 8
SPATIAL_SIZE = 7
SPATIAL_DIM = SPATIAL_SIZE * SPATIAL_SIZE * SPATIAL_CHANNELS


class FashionCNN(nn.Module):
    """[conv-BN-ReLU-maxpool] x 3 (16, 32, 64 channels) -> fc(576->128)-ReLU -> fc(128->10, no bias); 98.7k params."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.bn2 = nn.BatchNorm2d(32)
        self.bn3 = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(64 * 3 * 3, POOL_DIM)
        self.fc2 = nn.Linear(POOL_DIM, NUM_CLASSES, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: float [N, 1, 28, 28] in [-1, 1] -> (pool [N, 128], spatial [N, 392], logits [N, 10])."""
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)  # N x 16 x 14 x 14
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)  # N x 32 x 7 x 7
        h = self.bn3(self.conv3(x))  # N x 64 x 7 x 7 (pre-activation)
        spatial = h[:, :SPATIAL_CHANNELS].permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # N x (7*7*8), H, W, C order
        x = F.max_pool2d(F.relu(h), 2)  # N x 64 x 3 x 3 (floor)
        pool = F.relu(self.fc1(x.flatten(1)))  # N x 128
        return pool, spatial, self.fc2(pool)


def to_network_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, H, W, C] (C = 1 or 3) -> float [N, 1, 28, 28] in [-1, 1] (channel mean, antialiased bilinear)."""
    x = images.permute(0, 3, 1, 2).to(torch.float32).mean(dim=1, keepdim=True)  # N x 1 x H x W
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True)
    return x / 127.5 - 1.0


def default_weights_path() -> Path:
    """The committed weights: reference_stats/fmnist-cnn.safetensors."""
    return REFERENCE_DIR / WEIGHTS_FILE


def load_network(path: Path, verify: bool = True) -> tuple[FashionCNN, str]:
    """The network with weights from `path` (sha256-checked against its folder's manifest) and that sha256."""
    digest = verify_against_manifest(path) if verify else sha256_file(path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise InputError(f"cannot read safetensors weights ({exc})", path) from exc
    net = FashionCNN()
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise InputError(f"weights do not fit the {NAME} architecture ({detail})", path) from exc
    return net.eval(), digest


class FashionCNNExtractor(FeatureExtractor):
    """Batched float32 inference of `FashionCNN` on uint8 NHWC images."""

    def __init__(self, weights_path: Path | None = None, device: str = "cpu", batch_size: int = 1000) -> None:
        self._path = Path(weights_path) if weights_path is not None else default_weights_path()
        net, self._digest = load_network(self._path)
        self._device = torch.device(device)
        self._net = net.to(self._device)
        self._batch_size = batch_size

    @property
    def info(self) -> ExtractorInfo:
        return ExtractorInfo(
            name=NAME,
            description=SUMMARY,
            weights_sha256=self._digest,
            weights_source=f"admbench reference train-extractor ({self._path.name})",
            backend="torch",
            pool_dim=POOL_DIM,
            spatial_dim=SPATIAL_DIM,
            logits_dim=NUM_CLASSES,
            label_space="fashion-mnist",
            reference_inception=False,
        )

    @torch.inference_mode()
    def extract(self, images: np.ndarray) -> Features:
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
            raise ValueError(f"images must be a uint8 numpy array, got {getattr(images, 'dtype', type(images))}")
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(f"images must be [N, H, W, 1|3], got shape {images.shape}")
        outs: list[tuple[np.ndarray, ...]] = []
        for start in range(0, len(images), self._batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + self._batch_size])).to(self._device)
            outs.append(tuple(t.float().cpu().numpy() for t in self._net(to_network_input(batch))))
        if not outs:
            empty = (np.zeros((0, d), np.float32) for d in (POOL_DIM, SPATIAL_DIM, NUM_CLASSES))
            return Features(*empty)
        pool, spatial, logits = (np.concatenate([o[i] for o in outs]) for i in range(3))
        return Features(pool=pool, spatial=spatial, logits=logits)


def build(options: ExtractorOptions) -> FeatureExtractor:
    """Registry factory: weights from options.weights_path or the committed reference_stats file."""
    return FashionCNNExtractor(options.weights_path, device=options.device, batch_size=max(1, options.batch_size))
