"""Stateless training data order: batch indices, flips and noise derived from (seed, step), never from an iterator.

The global batch of step s holds positions s*B .. s*B+B-1 of an endless stream of epochs; epoch e is a
permutation of the dataset seeded by (seed, e). Every process computes the same global batch and takes its
contiguous slice, so a resumed run, or a run on another number of processes, sees exactly the same data.
In-memory datasets (Fashion-MNIST, image `.npz`) are decoded once into one uint8 tensor; image folders are
decoded by DataLoader workers that prefetch the coming steps.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from benchmark.data.base import ImageDataset
from benchmark.data.image_folder import ImageFolderDataset
from benchmark.data.tensors import ImageTensors, to_model_range
from benchmark.diffusion.rng import stream_seed

# Independent random streams per step.
STREAM_INIT = 0
STREAM_EPOCH = 1
STREAM_FLIP = 2
STREAM_TIMESTEP = 3
STREAM_NOISE = 4
STREAM_GLOBAL = 5  # reseeds torch's global RNG each step (dropout)


def generator(seed: int, *ints: int, device: str | torch.device = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(stream_seed(seed, *ints))


# ----------------------------------------------------------------------------------------------------------------


class EpochOrder:
    """Global sample positions -> dataset indices: epoch e is randperm(N) seeded by (seed, e)."""

    def __init__(self, num_items: int, seed: int) -> None:
        if num_items < 1:
            raise ValueError("the dataset is empty")
        self.num_items = num_items
        self.seed = seed
        self._cache: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._cache:
            if len(self._cache) >= 2:
                self._cache.pop(min(self._cache))
            self._cache[epoch] = torch.randperm(self.num_items, generator=generator(self.seed, STREAM_EPOCH, epoch))
        return self._cache[epoch]

    def indices(self, start: int, stop: int) -> np.ndarray:
        """Dataset indices of global stream positions start..stop-1."""
        out = np.empty(stop - start, dtype=np.int64)
        pos = start
        while pos < stop:
            epoch, offset = divmod(pos, self.num_items)
            n = min(stop - pos, self.num_items - offset)
            out[pos - start : pos - start + n] = self._perm(epoch)[offset : offset + n].numpy()
            pos += n
        return out


def flips(seed: int, step: int, batch_size: int) -> torch.Tensor:
    """Horizontal-flip decision of every sample of the global batch of `step` (bool [B])."""
    return torch.rand(batch_size, generator=generator(seed, STREAM_FLIP, step)) < 0.5


def per_sample_noise(seed: int, step: int, positions: range, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Standard normal [len(positions), *shape]; row i from its own generator seeded by (seed, step, position i)."""
    rows = [
        torch.randn(shape, generator=generator(seed, STREAM_NOISE, step, p, device=device), device=device)
        for p in positions
    ]
    return torch.stack(rows)


# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalBatch:
    step: int
    images: torch.Tensor  # float32 [n, C, H, W] in [-1, 1] on the training device
    labels: torch.Tensor  # int64 [n] on the training device


class _StepIndices(Sampler[list[int]]):
    """Yields this process's dataset indices for steps first..last-1 (a DataLoader batch sampler)."""

    def __init__(self, order: EpochOrder, batch_size: int, first: int, last: int, lo: int, hi: int) -> None:
        self.order, self.batch_size, self.first, self.last, self.lo, self.hi = order, batch_size, first, last, lo, hi

    def __len__(self) -> int:
        return max(0, self.last - self.first)

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.first, self.last):
            base = step * self.batch_size
            yield self.order.indices(base + self.lo, base + self.hi).tolist()


def _ignore_stop_signals(worker_id: int) -> None:
    """DataLoader workers ignore SIGINT/SIGTERM: the main process checkpoints and shuts them down itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _collate(items: list[tuple[np.ndarray, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(np.stack([im for im, _ in items]))
    labels = torch.tensor([lab for _, lab in items], dtype=torch.int64)
    return images, labels


class BatchSource:
    """This process's slice [lo, hi) of every global training batch, for steps first..last-1."""

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        seed: int,
        random_flip: bool,
        device: torch.device,
        num_workers: int = 4,
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.random_flip = random_flip
        self.device = device
        self.num_workers = num_workers
        self.order = EpochOrder(len(dataset), seed)
        self.streamed = isinstance(dataset, ImageFolderDataset)
        self.tensors = None if self.streamed else ImageTensors.from_dataset(dataset)

    def _finish(self, step: int, lo: int, hi: int, images: torch.Tensor, labels: torch.Tensor) -> LocalBatch:
        x = to_model_range(images)
        if self.random_flip:
            flip = flips(self.seed, step, self.batch_size)[lo:hi]
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return LocalBatch(step, x.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True))

    def batches(self, first: int, last: int, lo: int, hi: int) -> Iterator[LocalBatch]:
        """Local batches of steps first..last-1 (positions lo..hi-1 of each global batch)."""
        if self.tensors is not None:
            for step in range(first, last):
                base = step * self.batch_size
                idx = torch.from_numpy(self.order.indices(base + lo, base + hi))
                yield self._finish(step, lo, hi, self.tensors.images[idx], self.tensors.labels[idx])
            return
        loader = DataLoader(
            self.dataset,
            batch_sampler=_StepIndices(self.order, self.batch_size, first, last, lo, hi),
            num_workers=self.num_workers,
            collate_fn=_collate,
            worker_init_fn=_ignore_stop_signals,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if self.num_workers > 0 else None,
        )
        for step, (images, labels) in zip(range(first, last), loader):
            yield self._finish(step, lo, hi, images, labels)
