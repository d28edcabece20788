"""Backend parity check: the PyTorch port against TensorFlow running the GraphDef, on this machine's devices.

`admbench inception verify` runs two extractors on the same seeded, structured probe images at several input
sizes and reports the norm-wise relative error ||ours - reference|| / ||reference|| of pool, spatial and logits
per size. The reference is TensorFlow running the graph, or the port itself on the CPU where TensorFlow is not
installed (a device check). With the real graph it shows that this installation (torch version, device, converted
weights file) reproduces the reference evaluator's features; the test suite runs it on the synthetic graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.extractors.base import FeatureExtractor

OUTPUTS = ("pool", "spatial", "logits")


@dataclass(frozen=True)
class VerifySettings:
    """Probe sizes (pixels), images per size, seed of the probe images, pass threshold (relative error)."""

    sizes: tuple[int, ...] = (32, 64, 128, 256, 299, 512)
    count: int = 8
    seed: int = 0
    tolerance: float = 1e-4


@dataclass(frozen=True)
class ParityRow:
    """Relative errors of one probe size."""

    size: int
    pool: float
    spatial: float
    logits: float

    @property
    def worst(self) -> float:
        return max(self.pool, self.spatial, self.logits)


def probe_images(size: int, count: int, seed: int) -> np.ndarray:
    """uint8 [count, size, size, 3]: blocky colour fields with grain and a gradient (edges, flats and noise)."""
    rng = np.random.default_rng([seed, size])
    ramp = np.linspace(0.0, 60.0, size)
    out = np.empty((count, size, size, 3), np.uint8)
    for i in range(count):
        cells = int(rng.integers(2, 12))
        low = rng.uniform(0, 255, (cells, cells, 3))
        rows = np.minimum(np.arange(size) * cells // size, cells - 1)
        img = low[rows][:, rows] + ramp[:, None, None] * rng.uniform(-1, 1)
        img += rng.normal(0, rng.uniform(0, 25), img.shape)
        out[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return out


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    """||ours - reference|| / ||reference|| in float64 (inf when the reference is all zeros)."""
    ours64, ref64 = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    norm = float(np.linalg.norm(ref64))
    return float(np.linalg.norm(ours64 - ref64) / norm) if norm > 0 else float("inf")


def compare_backends(ours: FeatureExtractor, reference: FeatureExtractor, settings: VerifySettings) -> list[ParityRow]:
    """Run both extractors on the probe images of every size; one row of relative errors per size."""
    rows = []
    for size in settings.sizes:
        images = probe_images(size, settings.count, settings.seed)
        a, b = ours.extract(images), reference.extract(images)
        errors = {name: relative_error(getattr(a, name), getattr(b, name)) for name in OUTPUTS}
        rows.append(ParityRow(size=size, **errors))
    return rows
