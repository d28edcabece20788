"""The extractor registry refuses options an extractor does not support instead of ignoring them."""

from __future__ import annotations

import pytest

from benchmark.errors import InputError
from benchmark.extractors.base import ExtractorOptions
from benchmark.extractors.registry import build_extractor, extractor_names


def test_registered_names() -> None:
    assert extractor_names() == ["fmnist-cnn", "inception-v3", "random-cnn-test"]


@pytest.mark.parametrize("name", ["random-cnn-test", "fmnist-cnn"])
def test_torch_only_extractors_refuse_the_tf_backend_and_compile(name: str) -> None:
    assert build_extractor(name, ExtractorOptions()).info.backend == "torch"
    with pytest.raises(InputError, match="no 'tf' backend"):
        build_extractor(name, ExtractorOptions(backend="tf"))
    with pytest.raises(InputError, match="does not support torch.compile"):
        build_extractor(name, ExtractorOptions(compile=True))
