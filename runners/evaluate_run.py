"""Evaluate a run's sample archive into `<run>/metrics/<tag>.json` (the evaluator's result plus run provenance).

The JSON is `benchmark.evaluation.evaluate.evaluate`'s result (metrics, extractor name and weights
sha256, reference and sample fingerprints, settings, versions) plus "run" {dir, hash, config},
"sample_config" and "milestone" (from the archive's sample.json when there is one, so seeds and sampler
settings travel with the numbers) and, with a bootstrap, "ci95" and "bootstrap": percentile intervals of
every metric and their replicates (benchmark.evaluation.bootstrap). An existing metrics file for the same archive
and reference bytes (their SHA-256), extractor (name, weights sha256, backend), bootstrap setting and metric
selection (`--metrics`) is returned as is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmark.errors import InputError
from benchmark.evaluation.evaluator import Evaluator
from benchmark.evaluation.extract import archive_sha256
from benchmark.evaluation.selection import MetricSelection
from benchmark.io.atomic import write_json_atomic
from benchmark.io.json_input import read_json_object, reusable_json_object
from benchmark.io.npz import inspect_archive
from benchmark.progress import QuietReporter, Reporter
from runners.rundir import RunDir, SampleDir


def _sample_record(archive: Path, archive_sha256: str) -> dict[str, Any]:
    """The archive's sample.json (its sampling provenance), checked to describe these bytes; {} when there is none.

    One that cannot be read, or that names another archive's sha256, is an InputError: the metrics file would
    otherwise carry the wrong settings, or none, beside its numbers."""
    path = SampleDir(archive.parent).record
    if not path.exists():
        return {}
    data = read_json_object(path, "sample record")
    recorded = data.get("sha256")
    if recorded is not None and recorded != archive_sha256:
        raise InputError(f"sample record describes another archive (sha256 {str(recorded)[:12]}..., "
                         f"{archive.name} has {archive_sha256[:12]}...); resample or remove it", path)  # fmt: skip
    return data


def check_run_archive(archive: str | Path, reporter: Reporter | None = None) -> str:
    """ARCHIVE's SHA-256 after checking that its sample record, if any, describes these bytes.

    Lets a caller check every archive of a run before it writes the first metrics file."""
    archive = Path(archive)
    digest = archive_sha256(archive, reporter or QuietReporter())
    _sample_record(archive, digest)
    return digest


def _matches(existing: dict[str, Any], hashes: tuple[str, str], evaluator: Evaluator) -> bool:
    """Whether `existing` was computed from these (REF, ARCHIVE) bytes by this extractor with these settings."""
    info = evaluator.extractor.info
    try:
        recorded = existing["extractor"]
        same = (
            existing["sample"]["sha256"] == hashes[1]
            and existing["reference"]["sha256"] == hashes[0]
            and recorded["name"] == info.name
            and recorded["weights_sha256"] == info.weights_sha256
            # torch+compile serves torch: compiling changes the features by ~2e-7, not what they measure
            and str(recorded["backend"]).split("+")[0] == info.backend.split("+")[0]
        )
    except (KeyError, TypeError, AttributeError):
        return False
    boot = existing.get("bootstrap", {}).get("resamples", 0) if isinstance(existing.get("bootstrap"), dict) else 0
    wanted = evaluator.bootstrap.resamples if evaluator.bootstrap is not None else 0
    # A file without a selection was computed with the paper's five only.
    chosen = existing.get("metric_selection", MetricSelection().to_dict())
    return same and boot == wanted and chosen == evaluator.selection.to_dict()


def evaluate_run_archive(
    run_dir: str | Path,
    archive: str | Path,
    ref: str | Path,
    tag: str,
    evaluator: Evaluator,
    reporter: Reporter | None = None,
    hashes: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Evaluate `archive` against `ref` with `evaluator`; write and return metrics/<tag>.json.

    An existing metrics file is returned as is when it was computed from the same archives (the SHA-256 of their
    bytes, not the zip's CRCs, which a rotted or altered file can keep), extractor (name, weights sha256,
    backend), bootstrap setting and metric selection. `hashes`: (REF, ARCHIVE) SHA-256 already computed, the
    archive's by `check_run_archive`."""
    run, archive, ref = RunDir(Path(run_dir)), Path(archive), Path(ref)
    reporter = reporter or QuietReporter()
    run_config = run.config.to_dict()
    if not tag or "/" in tag or tag.startswith("."):
        raise InputError(f"metrics tag must be a plain file name, got {tag!r}")
    inspect_archive(archive)  # both archives are checked before any work
    inspect_archive(ref)
    out_path = run.metrics(tag)
    existing = reusable_json_object(out_path)
    # Hashed once: the up-to-date check and, when it fails, the evaluation use the same digests.
    if hashes is None:
        hashes = archive_sha256(ref, reporter), archive_sha256(archive, reporter)
    sample_json = _sample_record(archive, hashes[1])
    if existing is not None and _matches(existing, hashes, evaluator):
        reporter.log(f"{out_path} is up to date")
        return existing

    evaluation = evaluator.evaluate(ref, archive, reporter, hashes=hashes)

    result = {
        **evaluation.to_dict(),
        "run": {"dir": str(run.path), "hash": run.hash, "config": run_config},
        "sample_config": sample_json.get("sample_config"),
        "milestone": sample_json.get("milestone"),
        "sampling": {k: sample_json.get(k) for k in ("tag", "weights", "classifier", "labels", "noise", "sha256")},
    }
    write_json_atomic(out_path, result)
    return result
