"""The dataset contract: uint8 HWC images at one resolution, int64 labels (-1 where a dataset has none)."""

from __future__ import annotations

import abc
from collections.abc import Iterator

import numpy as np
from torch.utils.data import Dataset

UNLABELLED = -1


class ImageDataset(Dataset, abc.ABC):
    """A finite, indexable image set; items are (uint8 [H, W, C] array, int label), picklable for DataLoader workers."""

    resolution: int
    channels: int
    num_classes: int  # 0 when the dataset carries no labels

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def __getitem__(self, index: int) -> tuple[np.ndarray, int]: ...

    @abc.abstractmethod
    def describe(self) -> dict[str, object]:
        """Provenance recorded in manifests: dataset name, split or path, resolution, channels, size."""

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Images [n, H, W, C] uint8 and labels [n] int64 for indices start..stop-1 (subclasses may vectorise)."""
        stop = min(stop, len(self))
        items = [self[i] for i in range(start, stop)]
        shape = (0, self.resolution, self.resolution, self.channels)
        images = np.stack([im for im, _ in items]) if items else np.zeros(shape, np.uint8)
        return images, np.asarray([label for _, label in items], dtype=np.int64)

    def take(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels at arbitrary indices, in the given order."""
        items = [self[int(i)] for i in indices]
        shape = (0, self.resolution, self.resolution, self.channels)
        images = np.stack([im for im, _ in items]) if items else np.zeros(shape, np.uint8)
        return images, np.asarray([label for _, label in items], dtype=np.int64)


class InMemoryImageDataset(ImageDataset, abc.ABC):
    """A dataset whose `images` (uint8 [N, H, W, C]) and `labels` (int64 [N]) arrays are held in memory."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.images[index], int(self.labels[index])

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        return self.images[start:stop], self.labels[start:stop]

    def take(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.images[indices], self.labels[indices]


def iter_batches(dataset: ImageDataset, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """All images of `dataset` in index order, as (uint8 NHWC, int64 labels) batches of at most `batch_size`."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    for start in range(0, len(dataset), batch_size):
        yield dataset.read(start, start + batch_size)
