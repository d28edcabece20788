"""Evaluate a sample archive against a reference archive: the paper's five numbers plus full provenance.

`evaluate` is the one entry point (the evaluate command, a run's evaluation and `report compare` reach it through
benchmark.evaluation.evaluator); `check_inputs` runs every check that can fail on the inputs before any work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

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
from benchmark.evaluation.result import ArchiveRecord, EvalResult, PaperMetrics, package_versions
from benchmark.evaluation.selection import ExtraMetrics, MetricSelection, compute_extras, required_labels
from benchmark.evaluation.settings import EvalSettings
from benchmark.evaluation.stats import mean_and_covariance
from benchmark.evaluation.stats_check import covariance_problem, mean_problem
from benchmark.extractors.base import ExtractorInfo, FeatureExtractor
from benchmark.io.npz import ArchiveInfo, inspect_archive, member_header, read_labels, read_small_array
from benchmark.progress import QuietReporter, Reporter


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
    """Every check of `evaluate` that can fail on the inputs, run before any feature is extracted."""
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


def evaluate(
    ref_path: str | Path,
    sample_path: str | Path,
    extractor: FeatureExtractor,
    settings: EvalSettings,
    cache: FeatureCache | None = None,
    *,
    bootstrap: BootstrapSettings | None = None,
    selection: MetricSelection | None = None,
    reporter: Reporter | None = None,
    hashes: tuple[str, str] | None = None,
) -> EvalResult:
    """Compute Inception Score, FID, sFID, precision and recall of SAMPLE against REF.

    FID / sFID use REF's stored `mu, sigma, mu_s, sigma_s` when present (the paper's reference batches hold
    statistics of the whole training set), else statistics of REF's images. Precision / recall always use
    REF's images. When the extractor's logits are a dataset's classes (`label_space`) and SAMPLE holds labels,
    `label_accuracy` is the fraction of samples whose argmax logit is their label. With `bootstrap`, every
    metric but sFID gets a percentile interval and its replicates, from the features already extracted.
    `selection` adds the extra metrics it names (KID, density/coverage, per-class FID, label accuracy,
    FD-infinity; benchmark/evaluation/selection.py). `hashes` are REF's and SAMPLE's SHA-256 when the caller has
    just computed them in this process (else they are computed here).
    """
    reporter = reporter or QuietReporter()
    ref_path, sample_path = Path(ref_path), Path(sample_path)
    info = extractor.info
    selection = selection or MetricSelection()
    # Every check that can fail on the inputs runs before any feature is extracted or cached.
    checked = check_inputs(ref_path, sample_path, info, settings, selection)
    labels, ref_labels, stored = checked.labels, checked.ref_labels, checked.stored

    # The archives' bytes are hashed now, on every evaluation: the cache key and the recorded provenance.
    if hashes is None:
        hashes = archive_sha256(ref_path, reporter), archive_sha256(sample_path, reporter)
    ref_sha256, sample_sha256 = hashes
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
    probs = softmax(sample_feats.logits)
    is_value = inception_score(probs, settings.is_split_size)
    fid = frechet_distance(*sample_stats, *ref_stats, device=settings.device)
    sfid = frechet_distance(*sample_stats_s, *ref_stats_s, device=settings.device)
    radii = _reference_radii(ref_feats.pool, ref_sha256, ref_info, info, settings, cache, reporter)
    # The bootstrap needs the per-sample flags and the cover matrix; the same arithmetic either way.
    flags = cover = None
    if bootstrap is None:
        precision, recall = precision_recall(ref_feats.pool, sample_feats.pool, k=settings.k,
                                             block_size=settings.pr_block_size, arithmetic=settings.pr_arithmetic,
                                             device=settings.device, ref_radii=radii)  # fmt: skip
    else:
        flags, cover = coverage_matrix(ref_feats.pool, sample_feats.pool, k=settings.k,
                                       block_size=settings.pr_block_size, arithmetic=settings.pr_arithmetic,
                                       device=settings.device, ref_radii=radii)  # fmt: skip
        precision, recall = float(flags.mean()), float(cover.any(axis=1).mean())
    correct = None
    if labels is not None and info.label_space is not None:
        correct = np.argmax(sample_feats.logits, axis=1) == labels
    extras = ExtraMetrics()
    if selection.extras:
        reporter.log(f"computing {', '.join(selection.extras)}")
        extras = compute_extras(selection, np.asarray(ref_feats.pool), np.asarray(sample_feats.pool), ref_stats,
                                ref_labels, labels, settings.pr_block_size, settings.device)  # fmt: skip
    boot = None
    if bootstrap is not None:
        assert flags is not None and cover is not None
        reporter.log(f"bootstrap: {bootstrap.resamples} resamples")
        boot = bootstrap_metrics(
            BootstrapInputs(pool=np.asarray(sample_feats.pool), ref_mu=ref_stats[0], ref_sigma=ref_stats[1],
                            probs=probs, is_split_size=settings.is_split_size, precision_flags=flags, cover=cover,
                            fid=fid, recall=recall, correct=correct),
            bootstrap, device=settings.device)  # fmt: skip
    return EvalResult(
        metrics=PaperMetrics(inception_score=is_value, fid=fid, sfid=sfid, precision=precision, recall=recall),
        label_accuracy=None if correct is None else float(correct.mean()),
        extras=extras,
        selection=selection,
        bootstrap=boot,
        reference=ArchiveRecord.of(ref_info, ref_sha256, ref_hit),
        reference_statistics=stats_source,
        sample=ArchiveRecord.of(sample_info, sample_sha256, sample_hit),
        extractor=info,
        settings=settings,
        versions=package_versions(),
    )
