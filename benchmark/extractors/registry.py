"""Explicit registry of feature extractors: name -> factory(options) -> FeatureExtractor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmark.errors import InputError
from benchmark.extractors.base import ExtractorOptions, FeatureExtractor

Factory = Callable[[ExtractorOptions], FeatureExtractor]


@dataclass(frozen=True)
class ExtractorEntry:
    name: str
    factory: Factory
    summary: str


def _entries() -> dict[str, ExtractorEntry]:
    # Imported here so that `import benchmark` stays cheap; each module exposes NAME, SUMMARY and build().
    from benchmark.extractors import fmnist_cnn, inception, random_cnn

    entries = [
        ExtractorEntry(random_cnn.NAME, random_cnn.build, random_cnn.SUMMARY),
        ExtractorEntry(fmnist_cnn.NAME, fmnist_cnn.build, fmnist_cnn.SUMMARY),
        ExtractorEntry(inception.NAME, inception.build, inception.SUMMARY),
    ]
    return {e.name: e for e in entries}


def extractor_names() -> list[str]:
    """Names accepted by `--extractor`."""
    return sorted(_entries())


def extractor_summaries() -> list[tuple[str, str]]:
    """(name, one-line summary) of every registered extractor."""
    return [(e.name, e.summary) for e in sorted(_entries().values(), key=lambda e: e.name)]


def build_extractor(name: str, options: ExtractorOptions) -> FeatureExtractor:
    """Build the extractor registered under `name`."""
    entries = _entries()
    if name not in entries:
        raise InputError(f"unknown feature extractor {name!r}; choose one of: {', '.join(sorted(entries))}")
    extractor = entries[name].factory(options)
    # An option the extractor does not support is refused, never ignored.
    backend = extractor.info.backend
    if backend.split("+")[0] != options.backend:
        raise InputError(f"feature extractor {name!r} has no {options.backend!r} backend (it runs on {backend})")
    if options.compile and not backend.endswith("+compile"):
        raise InputError(f"feature extractor {name!r} does not support torch.compile (--compile)")
    return extractor
