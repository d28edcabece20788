"""A reduced smoke preset for the end-to-end tests: 8x8 Fashion-MNIST, a few steps, a hand-made reference batch,
the random test extractor. Run as a script (`python -m tests.reproduce.tiny OUT TABLES`) for the kill test."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

from runners.presets import SMOKE, Preset


def make_reference(path: Path) -> Path:
    """64 Fashion-MNIST test images at 8x8 (no stored statistics: FID uses these images' statistics)."""
    if not path.exists():
        from benchmark.data.registry import open_dataset

        dataset = open_dataset("fashion-mnist:test", 8, 1)
        images, _ = dataset.take(np.arange(64))
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, arr_0=images)
    return path


def tiny_preset(reference: Path) -> Preset:
    return dataclasses.replace(
        SMOKE,
        name="tiny-test",
        resolution=8,
        channel_mult=(1, 1, 1),
        widths=((160, 32), (128, 32)),
        milestones=(2, 3),
        batch_size=4,
        checkpoint_every=1,
        log_every=1,
        num_samples=16,
        sample_batch_size=16,
        respacing="ddim2",
        extractor="random-cnn-test",
        reference=str(reference),
        bootstrap=5,
        guidance_milestone=2,
        guidance_num_samples=16,
        guidance_respacing="ddim2",
        guidance_resolution=8,
        classifier_steps=2,
        classifier_batch_size=4,
    )


def main(out: Path, tables: tuple[str, ...]) -> dict:
    from runners.reproduce import ReproduceOptions, reproduce

    preset = tiny_preset(make_reference(out.parent / "reference-8x8.npz"))
    return reproduce(preset, tables, 1, out, ReproduceOptions(device="cpu", num_workers=0))


if __name__ == "__main__":
    main(Path(sys.argv[1]), tuple(sys.argv[2].split(",")))
