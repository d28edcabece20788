"""A reduced smoke preset for the end-to-end tests: 8x8 Fashion-MNIST, a few steps, a hand-made reference batch,
the random test extractor. Run as a script (`python -m tests.reproduce.tiny OUT TABLES`) for the kill test."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

from benchmark.diffusion.respacing import Respacing
from runners.presets import SMOKE, Evaluation, Preset


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
    train = dataclasses.replace(SMOKE.train, batch_size=4, checkpoint_every=1, log_every=1)
    sample = dataclasses.replace(SMOKE.sample, num_samples=16, batch_size=16, respacing=Respacing.parse("2"))
    classifier = dataclasses.replace(SMOKE.guidance.classifier, train=dataclasses.replace(
        SMOKE.guidance.classifier.train, batch_size=4, milestones=(2,), checkpoint_every=1, log_every=1))  # fmt: skip
    return dataclasses.replace(
        SMOKE,
        name="tiny-test",
        resolution=8,
        network=dataclasses.replace(SMOKE.network, channel_mult=(1, 1, 1), widths=((160, 32), (128, 32))),
        train=train,
        milestones=(2, 3),
        table2_steps=2,
        table3_steps=2,
        sample=sample,
        evaluation=Evaluation("random-cnn-test", str(reference), 10_000, 5),
        guidance=dataclasses.replace(SMOKE.guidance, steps=2, sample=sample, classifier=classifier),
        evidence_steps=0,
    )


def main(out: Path, tables: tuple[str, ...]) -> dict:
    from runners.reproduce import ReproduceOptions, reproduce

    preset = tiny_preset(make_reference(out.parent / "reference-8x8.npz"))
    return reproduce(preset, tables, 1, out, ReproduceOptions(device="cpu", num_workers=0))


if __name__ == "__main__":
    main(Path(sys.argv[1]), tuple(sys.argv[2].split(",")))
