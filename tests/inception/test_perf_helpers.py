"""The inception perf section's helpers: the FLOP count behind its arithmetic-rate row, and a quick run."""

from __future__ import annotations

from benchmark.extractors.inception.network import InceptionV3
from benchmark.perf.inception import _network_flops


def test_network_flops_match_the_published_multiply_adds(fast_net: InceptionV3) -> None:
    # Inception-v3 at 299x299 is 5.71 G multiply-adds (torchvision's model table; Szegedy et al. quote ~5 G);
    # the flop counter reports 2 FLOPs per multiply-add.
    assert abs(_network_flops(fast_net) / 2 / 5.71e9 - 1) < 0.005
