"""The feature-extractor contract shared by every metric in admbench."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ExtractorInfo:
    """Identity of an extractor, recorded with every number computed from its features.

    `reference_inception` is True only for the 2015-12-05 Inception-v3 weights whose file checksum matches a
    published artifact; only then may results be called Inception FID / IS.
    """

    name: str
    description: str
    weights_sha256: str
    weights_source: str
    backend: str
    pool_dim: int
    spatial_dim: int
    logits_dim: int
    reference_inception: bool = False
    label_space: str | None = None  # the dataset whose class labels the logits are (None: no such dataset)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "weights_sha256": self.weights_sha256,
            "weights_source": self.weights_source,
            "backend": self.backend,
            "pool_dim": self.pool_dim,
            "spatial_dim": self.spatial_dim,
            "logits_dim": self.logits_dim,
            "reference_inception": self.reference_inception,
            "label_space": self.label_space,
        }


@dataclass(frozen=True)
class Features:
    """Features of a batch: `pool` [N, P] (FID, precision/recall), `spatial` [N, S] (sFID), `logits` [N, L] (IS)."""

    pool: np.ndarray
    spatial: np.ndarray
    logits: np.ndarray

    def __len__(self) -> int:
        return int(self.pool.shape[0])


@dataclass(frozen=True)
class ExtractorOptions:
    """How to build an extractor: device, batch size, weights location, backend."""

    device: str = "cpu"
    batch_size: int = 64
    weights_path: Path | None = None
    cache_dir: Path | None = None
    backend: str = "torch"
    compile: bool = False


class FeatureExtractor(abc.ABC):
    """Maps uint8 images [N, H, W, C] (C = 1 or 3, any H, W) to `Features` (float32 arrays)."""

    @property
    @abc.abstractmethod
    def info(self) -> ExtractorInfo: ...

    @abc.abstractmethod
    def extract(self, images: np.ndarray) -> Features:
        """Features for one batch of uint8 NHWC images, in input order."""


def check_images(images: np.ndarray) -> np.ndarray:
    """Validate the image contract (uint8, NHWC, 1 or 3 channels) and return RGB uint8 NHWC."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise ValueError(f"images must be a uint8 numpy array, got {getattr(images, 'dtype', type(images))}")
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must be [N, H, W, 1|3], got shape {images.shape}")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return images
