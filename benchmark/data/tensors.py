"""Pre-decoded training tensors: the whole dataset as one uint8 tensor, served as float [-1, 1] NCHW batches."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

from benchmark.data.base import ImageDataset, iter_batches


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC -> float32 NCHW in [-1, 1] (x / 127.5 - 1, as guided-diffusion's ImageDataset)."""
    return images.permute(0, 3, 1, 2).to(torch.float32) / 127.5 - 1.0


class ImageTensors(Dataset):
    """All images of a dataset in memory (uint8 [N, H, W, C]) with int64 labels [N].

    Indexing yields (float32 [C, H, W] in [-1, 1], label); `batches` yields whole NCHW batches without a
    DataLoader, which is much faster for small in-memory datasets.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be a uint8 [N, H, W, C] tensor, got {images.dtype} {tuple(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape [{images.shape[0]}], got {tuple(labels.shape)}")
        self.images = images
        self.labels = labels.to(torch.int64)
        self.num_classes = num_classes

    @classmethod
    def from_dataset(cls, dataset: ImageDataset, batch_size: int = 4096) -> ImageTensors:
        """Decode every image of `dataset` once."""
        parts = list(iter_batches(dataset, batch_size))
        images = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, 1, 1, 1), np.uint8)
        labels = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        return cls(torch.from_numpy(images), torch.from_numpy(labels), dataset.num_classes)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return to_model_range(self.images[index : index + 1])[0], int(self.labels[index])

    def batches(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        shuffle: bool = True,
        drop_last: bool = True,
        random_flip: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of (float32 [B, C, H, W] in [-1, 1], int64 [B]) batches.

        The order (and the horizontal flips, if enabled) comes from `generator` alone, so a seeded generator
        reproduces the epoch exactly.
        """
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            x = to_model_range(self.images[idx])
            if random_flip:
                flip = torch.rand(len(idx), generator=generator) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(3), x)
            yield x, self.labels[idx]
