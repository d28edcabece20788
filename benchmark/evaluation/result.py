"""What one evaluation produced: `EvalResult`, typed, and its JSON form (the keys of every stored metrics file)."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import scipy
import torch

from benchmark import __version__
from benchmark.evaluation.bootstrap import BootstrapResult
from benchmark.evaluation.selection import EXTRA_LABELS, SCALAR_KEYS, ExtraMetrics, MetricSelection
from benchmark.evaluation.settings import EvalSettings
from benchmark.extractors.base import ExtractorInfo
from benchmark.io.npz import ArchiveInfo

METRIC_KEYS = ("inception_score", "fid", "sfid", "precision", "recall")
METRIC_LABELS = {
    "inception_score": "Inception Score",
    "fid": "FID",
    "sfid": "sFID",
    "precision": "Precision",
    "recall": "Recall",
}
LABEL_ACCURACY_LABEL = "Label accuracy"


@dataclass(frozen=True)
class PaperMetrics:
    """The paper's five numbers."""

    inception_score: float
    fid: float
    sfid: float
    precision: float
    recall: float

    def to_dict(self) -> dict[str, float]:
        return {key: getattr(self, key) for key in METRIC_KEYS}


@dataclass(frozen=True)
class ArchiveRecord:
    """Provenance of one evaluated archive: where it was, what it held, its bytes' sha256, whether the features
    came from the cache."""

    path: Path
    num_images: int
    resolution: tuple[int, int]
    channels: int
    fingerprint: str
    sha256: str
    features_from_cache: bool

    @classmethod
    def of(cls, info: ArchiveInfo, sha256: str, cache_hit: bool) -> ArchiveRecord:
        return cls(info.path, info.num_images, (info.height, info.width), info.channels, info.fast_key, sha256,
                   cache_hit)  # fmt: skip

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "num_images": self.num_images,
            "resolution": list(self.resolution),
            "channels": self.channels,
            "fingerprint": self.fingerprint,
            "sha256": self.sha256,
            "features_from_cache": self.features_from_cache,
        }


def package_versions() -> dict[str, str]:
    """Versions of everything that can move a number."""
    return {
        "admbench": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__,
        "h5py": h5py.__version__,
    }


@dataclass(frozen=True)
class EvalResult:
    """One evaluation of a sample archive against a reference archive, with everything needed to reproduce it.

    `label_accuracy` is set when the extractor has a label space and the samples carry labels; `extras` holds the
    metrics `selection` asked for beyond the paper's five; `bootstrap` the intervals and replicates when asked for.
    """

    metrics: PaperMetrics
    label_accuracy: float | None
    extras: ExtraMetrics
    selection: MetricSelection
    bootstrap: BootstrapResult | None
    reference: ArchiveRecord
    reference_statistics: str  # where REF's mean and covariance came from
    sample: ArchiveRecord
    extractor: ExtractorInfo
    settings: EvalSettings
    versions: Mapping[str, str]

    @property
    def extra_metric_keys(self) -> tuple[str, ...]:
        """The scalar result keys of the requested extras, in `--metrics` order."""
        return tuple(key for name in self.selection.extras for key in SCALAR_KEYS[name])

    def metric_names(self) -> dict[str, str]:
        """Display name of every scalar metric; the extractor's name is added unless it is the reference Inception."""
        info = self.extractor

        def name(label: str) -> str:
            return label if info.reference_inception else f"{label} ({info.name})"

        names = {key: name(METRIC_LABELS[key]) for key in METRIC_KEYS}
        if self.label_accuracy is not None:
            names["label_accuracy"] = f"{LABEL_ACCURACY_LABEL} ({info.label_space} classes, {info.name})"
        names.update({key: name(EXTRA_LABELS[key]) for key in self.extra_metric_keys if key != "label_accuracy"})
        return names

    def definitions(self) -> dict[str, str]:
        k, split = self.settings.k, self.settings.is_split_size
        return {
            "fid": "Frechet distance of pool features (eigh route, float64)",
            "sfid": "Frechet distance of spatial features",
            "inception_score": f"exp(E KL(p(y|x)||p(y))) of bias-free logits, contiguous splits of {split}",
            "precision_recall": f"k-NN manifolds, k={k}, pool features, squared distances, <= radius",
            "label_accuracy": "fraction of samples whose argmax logit is their arr_1 label (extractors with a "
            "label space only)",
        }

    def to_dict(self) -> dict[str, object]:
        """The JSON form: metrics at the top level, then names, provenance, settings, definitions and versions."""
        out: dict[str, object] = dict(self.metrics.to_dict())
        if self.label_accuracy is not None:
            out["label_accuracy"] = self.label_accuracy
        out.update(self.extras.to_dict())
        if self.selection.extras:
            out["metric_selection"] = self.selection.to_dict()
            out["extra_metric_keys"] = list(self.extra_metric_keys)
        if self.bootstrap is not None:
            out["ci95"] = {key: list(interval) for key, interval in self.bootstrap.intervals.items()}
            out["bootstrap"] = self.bootstrap.to_dict()
        out.update({
            "metric_names": self.metric_names(),
            "reference": {**self.reference.to_dict(), "statistics": self.reference_statistics},
            "sample": self.sample.to_dict(),
            "extractor": self.extractor.to_dict(),
            "settings": self.settings.to_dict(),
            "definitions": self.definitions(),
            "versions": dict(self.versions),
        })  # fmt: skip
        return out
