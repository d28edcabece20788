"""Train the Fashion-MNIST proxy extractor (benchmark/extractors/fmnist_cnn.py) reproducibly on CPU.

Seeded and deterministic for a given torch version and thread count: weights init, shuffling and views all
come from one seed, and torch runs with deterministic algorithms. Each training image is shown in one of the
three views the presets produce, chosen at random per sample, so the features stay meaningful at every
preset resolution: native 28x28, the 32x32 padded canvas, and its 16x16 box-downsampled version (both
resized back to 28 inside the extractor). Writes the safetensors atomically and records it in the manifest
of the output folder (sha256, test accuracies, epochs, seed, torch version).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save

from benchmark import __version__
from benchmark.data.fashion_mnist import load_split
from benchmark.data.reference_manifest import REFERENCE_DIR, record_file
from benchmark.data.transforms import prepare_images
from benchmark.extractors.fmnist_cnn import NAME, WEIGHTS_FILE, FashionCNN, to_network_input
from benchmark.io.atomic import atomic_write

VIEW_RESOLUTIONS = (28, 32, 16)  # native, fmnist preset canvas, smoke preset


@dataclass(frozen=True)
class TrainExtractorConfig:
    """Training settings for the proxy extractor."""

    epochs: int = 5
    seed: int = 0
    batch_size: int = 256
    lr: float = 3e-3  # Adam, cosine-decayed to 0 over all steps
    limit: int | None = None  # train on the first `limit` images only (for tests)


def _views(images: np.ndarray) -> list[torch.Tensor]:
    """uint8 [N, 28, 28] -> one uint8 NHWC tensor per view resolution."""
    return [torch.from_numpy(prepare_images(images, r, 1)) for r in VIEW_RESOLUTIONS]


def _inputs(views: list[torch.Tensor], idx: torch.Tensor, view_of: torch.Tensor) -> torch.Tensor:
    """Network inputs [B, 1, 28, 28] for samples `idx`, each in its chosen view."""
    out = torch.empty(len(idx), 1, 28, 28)
    for v, view in enumerate(views):
        mask = view_of == v
        if mask.any():
            out[mask] = to_network_input(view[idx[mask]])
    return out


@torch.inference_mode()
def accuracy(net: FashionCNN, images: np.ndarray, labels: np.ndarray, batch_size: int = 2000) -> float:
    """Top-1 accuracy of `net` on uint8 NHWC images through the extractor's input pipeline."""
    net.eval()
    correct = 0
    for start in range(0, len(images), batch_size):
        x = to_network_input(torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])))
        correct += int((net(x)[2].argmax(1).numpy() == labels[start : start + batch_size]).sum())
    return correct / len(images)


def fit_network(
    config: TrainExtractorConfig, images: np.ndarray, labels: np.ndarray, log: Callable[[str], None] = print
) -> FashionCNN:
    """Train a fresh FashionCNN on uint8 [N, 28, 28] images (seeded, deterministic algorithms)."""
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        views, targets = _views(images), torch.from_numpy(labels)
        net = FashionCNN()
        optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
        steps_per_epoch = len(images) // config.batch_size
        total = max(1, steps_per_epoch * config.epochs)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
        started = time.perf_counter()
        for epoch in range(config.epochs):
            net.train()
            order = torch.randperm(len(images), generator=generator)
            view_of = torch.randint(len(views), (len(images),), generator=generator)
            running = 0.0
            for step in range(steps_per_epoch):
                idx = order[step * config.batch_size : (step + 1) * config.batch_size]
                loss = F.cross_entropy(net(_inputs(views, idx, view_of[idx]))[2], targets[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                running += float(loss.detach())
            log(f"epoch {epoch + 1}/{config.epochs}: loss {running / max(1, steps_per_epoch):.4f} "
                f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    return net.eval()


def train_extractor(
    config: TrainExtractorConfig, out_dir: Path = REFERENCE_DIR, log: Callable[[str], None] = print
) -> dict[str, object]:
    """Train, evaluate on the test split, write `<out_dir>/fmnist-cnn.safetensors` and its manifest entry."""
    images, labels = load_split("train")
    if config.limit is not None:
        images, labels = images[: config.limit], labels[: config.limit]
    net = fit_network(config, images, labels, log)

    # Test accuracy at the native size and through each preset's preprocessing.
    test_images, test_labels = load_split("test")
    accuracies = {f"{r}px": accuracy(net, prepare_images(test_images, r, 3), test_labels) for r in VIEW_RESOLUTIONS}
    log("test accuracy: " + ", ".join(f"{k} {v:.4f}" for k, v in accuracies.items()))

    # Save atomically, then record the file in the manifest.
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    path = Path(out_dir) / WEIGHTS_FILE
    with atomic_write(path) as f:
        f.write(save(state))  # no safetensors metadata: its key order is not stable, provenance is in the manifest
    entry = record_file(
        path,
        {
            "kind": "extractor-weights",
            "extractor": NAME,
            "dataset": "fashion-mnist",
            "test_accuracy": accuracies["28px"],
            "test_accuracy_by_view": accuracies,
            "train_images": len(images),
            "config": asdict(config),
            "torch_version": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "admbench_version": __version__,
        },
    )
    log(f"wrote {path} (sha256 {entry['sha256']})")
    return entry
