"""Which metrics `evaluate` computes beyond the paper's five (`--metrics`), and computing them from the features."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.errors import InputError
from benchmark.evaluation.extra_metrics import (KID, ClassFID, FDInfinity, density_coverage, fd_infinity,
                                                fid_per_class, kid)
from benchmark.extractors.base import ExtractorInfo

PAPER_METRICS = ("fid", "sfid", "is", "pr")
EXTRA_METRICS = ("kid", "density_coverage", "fid_per_class", "label_accuracy", "fd_inf")
ALL_METRICS = PAPER_METRICS + EXTRA_METRICS
DEFAULT_METRICS = ",".join(PAPER_METRICS)
# Result keys of each extra metric (scalars shown in the CSV/Markdown/text outputs) and their labels.
EXTRA_LABELS = {
    "kid": "KID", "kid_std": "KID std", "density": "Density", "coverage": "Coverage",
    "fid_per_class_mean": "Per-class FID (mean)", "label_accuracy": "Label accuracy", "fd_inf": "FD-infinity",
}
SCALAR_KEYS = {"kid": ("kid", "kid_std"), "density_coverage": ("density", "coverage"),
               "fid_per_class": ("fid_per_class_mean",), "label_accuracy": ("label_accuracy",), "fd_inf": ("fd_inf",)}


@dataclass(frozen=True)
class MetricSelection:
    """The extra metrics requested, in a fixed order, and KID's subset settings (torch-fidelity's names)."""

    extras: tuple[str, ...] = ()
    kid_subsets: int = 100
    kid_subset_size: int = 1000

    def to_dict(self) -> dict[str, object]:
        return {"extra_metrics": list(self.extras), "kid_subsets": self.kid_subsets,
                "kid_subset_size": self.kid_subset_size}


def parse_metrics(text: str, kid_subsets: int = 100, kid_subset_size: int = 1000) -> MetricSelection:
    """`fid,sfid,is,pr,kid,...` -> MetricSelection; unknown names are an InputError. The paper's five are
    always computed (they are cheap next to feature extraction and keep their keys)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL_METRICS]
    if unknown:
        raise InputError(f"unknown metric(s) {', '.join(unknown)} in --metrics; choose from {', '.join(ALL_METRICS)}")
    if kid_subsets < 1 or kid_subset_size < 2:
        raise InputError("--kid-subsets must be >= 1 and --kid-subset-size >= 2")
    return MetricSelection(tuple(n for n in EXTRA_METRICS if n in names), kid_subsets, kid_subset_size)


def required_labels(selection: MetricSelection, info: ExtractorInfo, ref_path: Path, sample_path: Path,
                    ref_labels: np.ndarray | None, sample_labels: np.ndarray | None) -> None:
    """Refuse, before any extraction, a requested metric whose labels or label space are missing."""
    if "fid_per_class" in selection.extras:
        for path, labels in ((ref_path, ref_labels), (sample_path, sample_labels)):
            if labels is None:
                raise InputError("has no arr_1 labels; --metrics fid_per_class needs labels in both archives", path)
    if "label_accuracy" in selection.extras:
        if info.label_space is None:
            raise InputError(f"label_accuracy needs an extractor whose classifier head has the dataset's classes; "
                             f"{info.name} has none (for inception-v3 an explicit 1008 -> ImageNet-1000 class "
                             "mapping would be needed, and admbench has none)")
        if sample_labels is None:
            raise InputError("has no arr_1 labels; --metrics label_accuracy needs the samples' labels", sample_path)


@dataclass(frozen=True)
class ExtraMetrics:
    """The extra metrics computed (None: not requested); label accuracy is computed with the paper's metrics."""

    kid: KID | None = None
    density_coverage: tuple[float, float] | None = None
    fid_per_class: dict[int, ClassFID] | None = None
    fid_per_class_mean: float | None = None
    fd_inf: FDInfinity | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, under the keys of the extras' `SCALAR_KEYS` plus their detail (counts, subset size, fit)."""
        out: dict[str, object] = {}
        if self.kid is not None:
            out.update(kid=self.kid.value, kid_std=self.kid.std, kid_subset_size=self.kid.subset_size)
        if self.density_coverage is not None:
            out["density"], out["coverage"] = self.density_coverage
        if self.fid_per_class is not None:
            out["fid_per_class"] = {str(c): v.fid for c, v in self.fid_per_class.items()}
            out["fid_per_class_counts"] = {str(c): {"ref": v.n_ref, "sample": v.n_sample}
                                           for c, v in self.fid_per_class.items()}  # fmt: skip
            out["fid_per_class_mean"] = self.fid_per_class_mean
        if self.fd_inf is not None:
            out["fd_inf"] = self.fd_inf.value
            out["fd_inf_points"] = {"sizes": list(self.fd_inf.sizes), "fids": list(self.fd_inf.fids)}
        return out


def compute_extras(selection: MetricSelection, ref_pool: np.ndarray, sample_pool: np.ndarray,
                   ref_stats: tuple[np.ndarray, np.ndarray], ref_labels: np.ndarray | None,
                   sample_labels: np.ndarray | None, block_size: int, device: str) -> ExtraMetrics:
    """The requested extra metrics (except label_accuracy, computed with the paper's metrics)."""
    kid_value = density = per_class = per_class_mean = fd = None
    if "kid" in selection.extras:
        kid_value = kid(ref_pool, sample_pool, selection.kid_subsets, selection.kid_subset_size, device=device)
    if "density_coverage" in selection.extras:
        if len(ref_pool) < 6:
            raise InputError(f"density/coverage with k=5 needs at least 6 reference images, got {len(ref_pool)}")
        density = density_coverage(ref_pool, sample_pool, k=5, block_size=block_size, device=device)
    if "fid_per_class" in selection.extras:
        assert ref_labels is not None and sample_labels is not None
        per_class, per_class_mean = fid_per_class(ref_pool, ref_labels, sample_pool, sample_labels)
    if "fd_inf" in selection.extras:
        try:
            fd = fd_infinity(*ref_stats, sample_pool)
        except ValueError as exc:
            raise InputError(f"fd_inf: {exc}") from exc
    return ExtraMetrics(kid_value, density, per_class, per_class_mean, fd)
