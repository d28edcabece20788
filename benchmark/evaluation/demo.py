"""A small generated reference / sample archive pair for the demo and the tests (no downloads needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.io.atomic import atomic_path


def gratings(n: int, resolution: int, seed: int, contrast: float = 1.0, noise: float = 8.0) -> np.ndarray:
    """n RGB images of oriented sinusoidal gratings with per-image colour, frequency, phase and pixel noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:resolution, 0:resolution].astype(np.float64) / resolution
    theta = rng.uniform(0, np.pi, n)[:, None, None]
    freq = rng.uniform(1.0, 6.0, n)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    wave = np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
    colour = rng.uniform(0.2, 1.0, (n, 1, 1, 3))
    img = 127.5 + 120.0 * contrast * wave[..., None] * colour + rng.normal(0, noise, (n, resolution, resolution, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def write_archive(path: str | Path, images: np.ndarray, labels: np.ndarray | None = None) -> Path:
    """Write an archive in the paper's format (`arr_0` uint8 NHWC, optional `arr_1`) atomically."""
    path = Path(path)
    arrays = {"arr_0": images} if labels is None else {"arr_0": images, "arr_1": labels}
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    return path


def make_demo_pair(out_dir: str | Path, n_ref: int = 256, n_sample: int = 256, resolution: int = 32) -> tuple[Path, Path]:
    """Reference gratings and a 'model' whose samples have lower contrast and more noise."""
    out_dir = Path(out_dir)
    ref = write_archive(out_dir / "demo_ref.npz", gratings(n_ref, resolution, seed=1))
    sample = write_archive(out_dir / "demo_sample.npz", gratings(n_sample, resolution, seed=2, contrast=0.8, noise=16.0))
    return ref, sample
