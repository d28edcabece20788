"""A small deterministic random-weight CNN: for tests and the demo only, never a substitute for Inception.

Its numbers are labelled with its own name everywhere; they are not comparable to any published FID.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.extractors.base import ExtractorInfo, ExtractorOptions, FeatureExtractor, Features, check_images

NAME = "random-cnn-test"
SUMMARY = "deterministic random-weight CNN for tests and demos (NOT Inception; numbers not comparable to papers)"

_SEED = 20210511  # the paper's arXiv date; any fixed value works
_RESOLUTION = 32
_WIDTHS = (3, 32, 64, 128)
_SPATIAL_CHANNELS = 2
_NUM_CLASSES = 10


def _make_weights(seed: int) -> dict[str, np.ndarray]:
    """He-initialised conv weights from numpy's PCG64, so they are identical on every platform and torch version."""
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}
    for i, (cin, cout) in enumerate(zip(_WIDTHS[:-1], _WIDTHS[1:])):
        std = np.sqrt(2.0 / (cin * 9))
        weights[f"conv{i}.weight"] = (rng.standard_normal((cout, cin, 3, 3)) * std).astype(np.float32)
        weights[f"conv{i}.bias"] = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    weights["fc.weight"] = (rng.standard_normal((_NUM_CLASSES, _WIDTHS[-1])) * 8.0 / np.sqrt(_WIDTHS[-1])).astype(np.float32)
    return weights


def _weights_digest(weights: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(weights):
        h.update(key.encode())
        h.update(np.ascontiguousarray(weights[key]).tobytes())
    return h.hexdigest()


class RandomCNNExtractor(FeatureExtractor):
    """uint8 NHWC -> resize to 32x32 -> three stride-2 conv+ReLU layers -> pool (128), spatial (4x4x2=32), logits (10)."""

    def __init__(self, device: str = "cpu", batch_size: int = 256, seed: int = _SEED) -> None:
        weights = _make_weights(seed)
        self._seed = seed
        self._digest = _weights_digest(weights)
        self._device = torch.device(device)
        self._batch_size = batch_size
        self._w = {k: torch.from_numpy(v).to(self._device) for k, v in weights.items()}

    @property
    def info(self) -> ExtractorInfo:
        return ExtractorInfo(
            name=NAME,
            description=SUMMARY,
            weights_sha256=self._digest,
            weights_source=f"numpy PCG64 seed {self._seed}",
            backend="torch",
            pool_dim=_WIDTHS[-1],
            spatial_dim=4 * 4 * _SPATIAL_CHANNELS,
            logits_dim=_NUM_CLASSES,
            reference_inception=False,
        )

    @torch.inference_mode()
    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = x.permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=(_RESOLUTION, _RESOLUTION), mode="bilinear", align_corners=False)
        x = (x - 128.0) / 128.0
        spatial = None
        for i in range(len(_WIDTHS) - 1):
            x = F.relu(F.conv2d(x, self._w[f"conv{i}.weight"], self._w[f"conv{i}.bias"], stride=2, padding=1))
            if i == 2:  # 4x4 map: first channels, flattened H, W, C like the Inception sFID layer
                spatial = x[:, :_SPATIAL_CHANNELS].permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        pool = x.mean(dim=(2, 3))
        logits = pool @ self._w["fc.weight"].T
        assert spatial is not None
        return pool, spatial, logits

    def extract(self, images: np.ndarray) -> Features:
        images = check_images(images)
        outs: list[tuple[torch.Tensor, ...]] = []
        for start in range(0, len(images), self._batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + self._batch_size])).to(self._device)
            outs.append(tuple(t.cpu() for t in self._forward(batch)))
        pool, spatial, logits = (torch.cat([o[i] for o in outs]).numpy() for i in range(3))
        return Features(pool=pool, spatial=spatial, logits=logits)


def build(options: ExtractorOptions) -> FeatureExtractor:
    """Registry factory."""
    return RandomCNNExtractor(device=options.device, batch_size=max(1, options.batch_size))
