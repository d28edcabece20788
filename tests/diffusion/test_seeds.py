"""One seed derivation: sample streams and training streams are numpy SeedSequence states of the same tuple."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.diffusion.rng import sample_seed, stream_seed
from runners import data_order


@pytest.mark.parametrize("seed, ints", [(0, (0,)), (7, (123,)), (2**40, (5, 3, 1))])
def test_stream_seed_is_the_seed_sequence_state_of_the_tuple(seed, ints):
    expected = int(np.random.SeedSequence([seed, *ints]).generate_state(1, np.uint64)[0])
    assert stream_seed(seed, *ints) == expected


def test_samples_and_training_share_the_one_derivation():
    assert data_order.stream_seed is stream_seed
    assert [sample_seed(3, i) for i in range(4)] == [stream_seed(3, i) for i in range(4)]
