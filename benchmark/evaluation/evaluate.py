"""Evaluate a sample archive against a reference archive: the paper's five numbers plus full provenance."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark import __version__
from benchmark.errors import InputError
from benchmark.evaluation.bootstrap import BootstrapInputs, BootstrapSettings, bootstrap_metrics
from benchmark.evaluation.cache import CacheKey, CacheUnusable, FeatureCache
from benchmark.evaluation.distances import PRArithmetic, tf_cpu_k_slices
from benchmark.evaluation.extract import archive_sha256, extract_features
from benchmark.evaluation.metrics import (
    coverage_matrix,
    frechet_distance,
    inception_score,
    manifold_radii,
    precision_recall,
    softmax,
)
from benchmark.evaluation.selection import (EXTRA_LABELS, SCALAR_KEYS, MetricSelection, compute_extras,
                                            required_labels)
from benchmark.evaluation.stats import mean_and_covariance
from benchmark.extractors.base import ExtractorInfo, FeatureExtractor
from benchmark.evaluation.stats_check import covariance_problem, mean_problem
from benchmark.io.npz import ArchiveInfo, inspect_archive, member_header, read_labels, read_small_array
from benchmark.progress import QuietReporter, Reporter

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
class EvalSettings:
    """Everything that changes an evaluation's numbers or its cost."""

    batch_size: int = 64
    device: str = "cpu"
    k: int = 3
    is_split_size: int = 5000
    pr_block_size: int = 10000
    pr_arithmetic: PRArithmetic = PRArithmetic.GPU_TF
    use_stored_ref_stats: bool = True

    def to_dict(self) -> dict[str, object]:
        return {
            "batch_size": self.batch_size,
            "device": self.device,
            "k": self.k,
            "is_split_size": self.is_split_size,
            "pr_block_size": self.pr_block_size,
            "pr_arithmetic": self.pr_arithmetic.value,
            "use_stored_ref_stats": self.use_stored_ref_stats,
        }


def _archive_meta(info: ArchiveInfo, sha256: str, cache_hit: bool) -> dict[str, object]:
    return {
        "path": str(info.path),
        "num_images": info.num_images,
        "resolution": [info.height, info.width],
        "channels": info.channels,
        "fingerprint": info.fast_key,
        "sha256": sha256,
        "features_from_cache": cache_hit,
    }


def _stored_stats(path: Path, dims: tuple[int, int], extractor_name: str) -> dict[str, np.ndarray]:
    """REF's mu, sigma, mu_s, sigma_s as float64, each checked (shape from its header first, then the values)."""
    out = {}
    for key, dim in (("mu", dims[0]), ("sigma", dims[0]), ("mu_s", dims[1]), ("sigma_s", dims[1])):
        header = member_header(path, key)
        expected = (dim,) if key.startswith("mu") else (dim, dim)
        if header.shape != expected:
            raise InputError(
                f"stored {key} has shape {header.shape}, but extractor {extractor_name} needs {expected}; the stored "
                "statistics belong to another feature extractor (use --recompute-ref-stats to ignore them)",
                path,
            )
        if not np.issubdtype(header.dtype, np.floating):
            raise InputError(f"stored {key} has dtype {header.dtype}, expected floating point", path)
        arr = read_small_array(path, key)
        problem = mean_problem(arr) if key.startswith("mu") else covariance_problem(arr, arr.dtype)
        if problem is not None:
            raise InputError(f"stored {key} {problem}", path)
        out[key] = arr.astype(np.float64)
    return out


@dataclass(frozen=True)
class CheckedInputs:
    """What `check_inputs` read and validated: both archives' headers, the labels in use, stored statistics."""

    ref_info: ArchiveInfo
    sample_info: ArchiveInfo
    labels: np.ndarray | None
    ref_labels: np.ndarray | None
    stored: dict[str, np.ndarray] | None


def check_inputs(ref_path: str | Path, sample_path: str | Path, info: ExtractorInfo, settings: EvalSettings,
                 selection: MetricSelection | None = None) -> CheckedInputs:  # fmt: skip
    """Every check of `evaluate_archives` that can fail on the inputs, run before any feature is extracted."""
    ref_path, sample_path = Path(ref_path), Path(sample_path)
    ref_info, sample_info = inspect_archive(ref_path), inspect_archive(sample_path)
    for p, n in ((ref_path, ref_info.num_images), (sample_path, sample_info.num_images)):
        if n < settings.k + 1:
            raise InputError(f"holds {n} images; precision/recall with k={settings.k} needs at least {settings.k + 1}", p)
    if settings.pr_arithmetic is PRArithmetic.CPU_TF:
        try:
            tf_cpu_k_slices(info.pool_dim)
        except ValueError as exc:
            raise InputError(f"--pr-arithmetic cpu-tf with extractor {info.name}: {exc}", sample_path) from None
    selection = selection or MetricSelection()
    wants_labels = "fid_per_class" in selection.extras or "label_accuracy" in selection.extras
    labels = read_labels(sample_path) if info.label_space is not None or wants_labels else None
    ref_labels = read_labels(ref_path) if "fid_per_class" in selection.extras else None
    required_labels(selection, info, ref_path, sample_path, ref_labels, labels)
    if labels is not None and info.label_space is not None and (labels.min(initial=0) < 0 or labels.max(initial=0) >= info.logits_dim):
        raise InputError(f"labels must lie in [0, {info.logits_dim}) for extractor {info.name} ({info.label_space} "
                         f"classes), got {labels.min()}..{labels.max()}", sample_path)  # fmt: skip
    stored = None
    if settings.use_stored_ref_stats and ref_info.stored_stat_keys:
        missing = sorted(set(("mu", "sigma", "mu_s", "sigma_s")) - set(ref_info.stored_stat_keys))
        if missing:
            raise InputError(f"has stored statistics but lacks {', '.join(missing)}", ref_path)
        stored = _stored_stats(ref_path, (info.pool_dim, info.spatial_dim), info.name)
    return CheckedInputs(ref_info, sample_info, labels, ref_labels, stored)


def _reference_radii(pool: np.ndarray, ref_sha256: str, ref_info: ArchiveInfo, info: ExtractorInfo,
                     settings: EvalSettings, cache: FeatureCache | None,
                     reporter: Reporter) -> np.ndarray | None:  # fmt: skip
    """The reference's k-NN radii from the cache (computed and stored on a miss); None without a usable cache."""
    if cache is None:
        return None
    key = CacheKey.of(ref_sha256, ref_info.num_images, info)
    arithmetic = settings.pr_arithmetic.value
    try:
        radii = cache.load_radii(key, settings.k, arithmetic)
        if radii is None:
            features = torch.as_tensor(np.asarray(pool, dtype=np.float32), device=settings.device)
            radii = manifold_radii(features, settings.k, settings.pr_block_size, settings.pr_arithmetic).cpu().numpy()
            cache.store_radii(key, settings.k, arithmetic, radii)
    except CacheUnusable as exc:
        reporter.warn(f"{exc}; continuing without the radii cache for {ref_info.path.name}")
        return None
    return radii


def package_versions() -> dict[str, str]:
    """Versions of everything that can move a number."""
    import h5py
    import scipy
    import torch

    return {
        "admbench": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__,
        "h5py": h5py.__version__,
    }


def evaluate_archives(
    ref_path: str | Path,
    sample_path: str | Path,
    extractor: FeatureExtractor,
    settings: EvalSettings,
    cache: FeatureCache | None = None,
    reporter: Reporter | None = None,
    bootstrap: BootstrapSettings | None = None,
    selection: MetricSelection | None = None,
) -> dict[str, object]:
    """Compute Inception Score, FID, sFID, precision and recall of SAMPLE against REF.

    FID / sFID use REF's stored `mu, sigma, mu_s, sigma_s` when present (the paper's reference batches hold
    statistics of the whole training set), else statistics of REF's images. Precision / recall always use
    REF's images. When the extractor's logits are a dataset's classes (`label_space`) and SAMPLE holds labels,
    `label_accuracy` is the fraction of samples whose argmax logit is their label. With `bootstrap`, every
    metric but sFID gets a percentile interval (`ci95`) and its stored replicates (`bootstrap`), from the
    features already extracted. `selection` adds the extra metrics it names (KID, density/coverage, per-class
    FID, label accuracy, FD-infinity; benchmark/evaluation/selection.py). Returns a JSON-ready dict: the metrics plus everything needed to reproduce them.
    """
    reporter = reporter or QuietReporter()
    ref_path, sample_path = Path(ref_path), Path(sample_path)
    info = extractor.info
    # Every check that can fail on the inputs runs before any feature is extracted or cached.
    checked = check_inputs(ref_path, sample_path, info, settings, selection)
    selection = selection or MetricSelection()
    labels, ref_labels, stored = checked.labels, checked.ref_labels, checked.stored

    # The archives' bytes are hashed now, on every evaluation: the cache key and the recorded provenance.
    ref_sha256, sample_sha256 = archive_sha256(ref_path, reporter), archive_sha256(sample_path, reporter)
    ref_feats, ref_info, ref_hit = extract_features(ref_path, extractor, settings.batch_size, cache, reporter,
                                                    sha256=ref_sha256)  # fmt: skip
    sample_feats, sample_info, sample_hit = extract_features(sample_path, extractor, settings.batch_size, cache,
                                                             reporter, sha256=sample_sha256)  # fmt: skip
    if stored is not None:
        ref_stats = (stored["mu"], stored["sigma"])
        ref_stats_s = (stored["mu_s"], stored["sigma_s"])
        stats_source = "stored in reference archive (mu, sigma, mu_s, sigma_s)"
    else:
        ref_stats = mean_and_covariance(ref_feats.pool)
        ref_stats_s = mean_and_covariance(ref_feats.spatial)
        stats_source = f"computed from the reference archive's {ref_info.num_images} images"
    sample_stats = mean_and_covariance(sample_feats.pool)
    sample_stats_s = mean_and_covariance(sample_feats.spatial)

    reporter.log("computing metrics")
    metrics = {
        "inception_score": inception_score(softmax(sample_feats.logits), settings.is_split_size),
        "fid": frechet_distance(*sample_stats, *ref_stats, device=settings.device),
        "sfid": frechet_distance(*sample_stats_s, *ref_stats_s, device=settings.device),
    }
    radii = _reference_radii(ref_feats.pool, ref_sha256, ref_info, info, settings, cache, reporter)
    if bootstrap is None:
        precision, recall = precision_recall(ref_feats.pool, sample_feats.pool, k=settings.k,
                                             block_size=settings.pr_block_size, arithmetic=settings.pr_arithmetic,
                                             device=settings.device, ref_radii=radii)  # fmt: skip
    else:  # the same arithmetic, keeping the per-sample flags and the cover matrix for the bootstrap
        flags, cover = coverage_matrix(ref_feats.pool, sample_feats.pool, k=settings.k,
                                       block_size=settings.pr_block_size, arithmetic=settings.pr_arithmetic,
                                       device=settings.device, ref_radii=radii)  # fmt: skip
        precision, recall = float(flags.mean()), float(cover.any(axis=1).mean())
    metrics["precision"] = precision
    metrics["recall"] = recall
    names = {k: METRIC_LABELS[k] if info.reference_inception else f"{METRIC_LABELS[k]} ({info.name})"
             for k in METRIC_KEYS}  # fmt: skip
    correct = None
    if labels is not None and info.label_space is not None:
        correct = np.argmax(sample_feats.logits, axis=1) == labels
        metrics["label_accuracy"] = float(correct.mean())
        names["label_accuracy"] = f"{LABEL_ACCURACY_LABEL} ({info.label_space} classes, {info.name})"
    extra: dict[str, object] = {}
    if selection.extras:
        reporter.log(f"computing {', '.join(selection.extras)}")
        metrics.update(compute_extras(selection, np.asarray(ref_feats.pool), np.asarray(sample_feats.pool), ref_stats,
                                      ref_labels, labels, settings.k, settings.pr_block_size, settings.device))
        for name in selection.extras:
            for key in SCALAR_KEYS[name]:
                if key != "label_accuracy":
                    names[key] = EXTRA_LABELS[key] if info.reference_inception else f"{EXTRA_LABELS[key]} ({info.name})"
        extra["metric_selection"] = selection.to_dict()
        extra["extra_metric_keys"] = [k for n in selection.extras for k in SCALAR_KEYS[n]]
    if bootstrap is not None:
        reporter.log(f"bootstrap: {bootstrap.resamples} resamples")
        boot = bootstrap_metrics(
            BootstrapInputs(pool=np.asarray(sample_feats.pool), ref_mu=ref_stats[0], ref_sigma=ref_stats[1],
                            probs=softmax(sample_feats.logits), is_split_size=settings.is_split_size,
                            precision_flags=flags, cover=cover, fid=metrics["fid"], recall=recall,
                            correct=correct),
            bootstrap, device=settings.device)  # fmt: skip
        extra = {"ci95": {k: list(v) for k, v in boot.intervals.items()}, "bootstrap": boot.to_dict()}
    return {
        **metrics,
        **extra,
        "metric_names": names,
        "reference": {**_archive_meta(ref_info, ref_sha256, ref_hit), "statistics": stats_source},
        "sample": _archive_meta(sample_info, sample_sha256, sample_hit),
        "extractor": info.to_dict(),
        "settings": settings.to_dict(),
        "definitions": {
            "fid": "Frechet distance of pool features (eigh route, float64)",
            "sfid": "Frechet distance of spatial features",
            "inception_score": f"exp(E KL(p(y|x)||p(y))) of bias-free logits, contiguous splits of {settings.is_split_size}",
            "precision_recall": f"k-NN manifolds, k={settings.k}, pool features, squared distances, <= radius",
            "label_accuracy": "fraction of samples whose argmax logit is their arr_1 label (extractors with a "
            "label space only)",
        },
        "versions": package_versions(),
    }
