"""Per-sample random streams: sample i's noise depends only on its own seed, never on batch size or device count."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from benchmark.errors import InputError


def stream_seed(seed: int, *ints: int) -> int:
    """A 64-bit seed for the stream named by (seed, *ints) (numpy SeedSequence, so nearby inputs do not collide).

    The one seed derivation of admbench: sample streams here, training's data order, noise and timesteps
    (runners.data_order).
    """
    return int(np.random.SeedSequence([int(seed), *[int(i) for i in ints]]).generate_state(1, np.uint64)[0])


def sample_seed(seed: int, index: int) -> int:
    """64-bit generator seed of sample `index` in a run seeded with `seed`: the stream (seed, index)."""
    if seed < 0 or index < 0:
        raise InputError(f"seed and sample index must be >= 0, got seed={seed}, index={index}")
    return stream_seed(seed, index)


#----------------------------------------------------------------------------

class SampleRNG:
    """A stack of torch.Generators, one per sample (EDM's StackedRandomGenerator).

    Every draw returns a [N, ...] tensor whose row i comes from generator i alone, so a sample's initial noise
    and every later step's noise are the same whether it is drawn in a batch of 1 or 1000, or after a resume.
    """

    def __init__(self, seeds: Sequence[int], device: torch.device | str = "cpu") -> None:
        if len(seeds) == 0:
            raise InputError("SampleRNG needs at least one seed")
        self.device = torch.device(device)
        self.generators = [torch.Generator(device=self.device).manual_seed(int(s)) for s in seeds]

    @classmethod
    def for_samples(cls, seed: int, indices: Sequence[int], device: torch.device | str = "cpu") -> SampleRNG:
        """Generators for global sample indices `indices` of a run seeded with `seed`."""
        return cls([sample_seed(seed, i) for i in indices], device)

    def __len__(self) -> int:
        return len(self.generators)

    def randn(self, shape: Sequence[int], *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Standard normal tensor of `shape`; shape[0] must equal the number of generators."""
        if shape[0] != len(self.generators):
            raise ValueError(f"batch dimension {shape[0]} != number of per-sample generators {len(self.generators)}")
        rows = [torch.randn(tuple(shape[1:]), generator=g, dtype=dtype, device=self.device) for g in self.generators]
        return torch.stack(rows)

    def randn_like(self, x: torch.Tensor) -> torch.Tensor:
        """Noise shaped like x (a NoiseFn for the samplers)."""
        return self.randn(x.shape, dtype=x.dtype)
