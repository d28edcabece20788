"""Evaluate a run's sample archive into `<run>/metrics/<tag>.json` (the evaluator's result plus run provenance).

The JSON is `benchmark.evaluation.evaluate.evaluate_archives`'s result (metrics, extractor name and weights
sha256, reference and sample fingerprints, settings, versions) plus "run" {dir, hash, config},
"sample_config" and "milestone" (from the archive's sample.json when there is one, so seeds and sampler
settings travel with the numbers) and, with `bootstrap > 0`, "ci95" and "bootstrap": percentile intervals of
every metric and their replicates (benchmark.evaluation.bootstrap). An existing metrics file for the same archive
and reference bytes (their SHA-256), extractor and bootstrap setting is returned as is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmark import paths
from benchmark.errors import InputError
from benchmark.io.atomic import write_json_atomic
from benchmark.progress import QuietReporter, Reporter
from runners.rundir import RunDir, SampleDir

BOOTSTRAP_SEED = 0
BOOTSTRAP_CONFIDENCE = 0.95


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object, or None when the file is missing or malformed (for files that are only reused if valid)."""
    if not path.is_file():  # os.stat only: a FIFO is never opened
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _matches(existing: dict[str, Any], sample_sha256: str, ref_sha256: str, extractor_name: str, backend: str,
             bootstrap: int) -> bool:
    try:
        same = (
            existing["sample"]["sha256"] == sample_sha256
            and existing["reference"]["sha256"] == ref_sha256
            and existing["extractor"]["name"] == extractor_name
            and str(existing["extractor"]["backend"]).split("+")[0] == backend  # torch+compile serves torch
        )
    except (KeyError, TypeError):
        return False
    boot = existing.get("bootstrap", {}).get("resamples", 0) if isinstance(existing.get("bootstrap"), dict) else 0
    return same and boot == bootstrap


def evaluate_run_archive(
    run_dir: str | Path,
    archive: str | Path,
    ref: str | Path,
    extractor_name: str,
    tag: str,
    device: str = "cpu",
    bootstrap: int = 0,
    reporter: Reporter | None = None,
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    weights_path: str | Path | None = None,
    backend: str = "torch",
    compile_network: bool = False,
    use_cache: bool = True,
) -> dict[str, Any]:
    """Evaluate `archive` against `ref` with extractor `extractor_name`; write and return metrics/<tag>.json.

    An existing metrics file is returned as is when it was computed from the same archives (the SHA-256 of their
    bytes, not the zip's CRCs, which a rotted or altered file can keep), extractor, backend and bootstrap setting."""
    from benchmark.evaluation.bootstrap import BootstrapSettings
    from benchmark.evaluation.cache import FeatureCache
    from benchmark.evaluation.evaluate import EvalSettings, evaluate_archives
    from benchmark.evaluation.extract import archive_sha256
    from benchmark.extractors.base import ExtractorOptions
    from benchmark.extractors.registry import build_extractor
    from benchmark.io.npz import inspect_archive

    run, archive, ref = RunDir(Path(run_dir)), Path(archive), Path(ref)
    reporter = reporter or QuietReporter()
    run_config = run.config.to_dict()
    if bootstrap < 0:
        raise InputError(f"bootstrap must be >= 0, got {bootstrap}")
    if not tag or "/" in tag or tag.startswith("."):
        raise InputError(f"metrics tag must be a plain file name, got {tag!r}")
    inspect_archive(archive)  # both archives are checked before any work
    inspect_archive(ref)
    out_path = run.metrics(tag)
    existing = _read_json(out_path) if out_path.exists() else None
    if existing is not None and _matches(existing, archive_sha256(archive, reporter), archive_sha256(ref, reporter),
                                         extractor_name, backend, bootstrap):  # fmt: skip
        reporter.log(f"{out_path} is up to date")
        return existing

    cache_root = paths.cache_root(cache_dir)
    options = ExtractorOptions(
        device=device, batch_size=batch_size, cache_dir=cache_root,
        weights_path=None if weights_path is None else Path(weights_path), backend=backend, compile=compile_network,
    )
    extractor = build_extractor(extractor_name, options)
    settings = EvalSettings(batch_size=batch_size, device=device)
    cache = FeatureCache(cache_root) if use_cache else None
    boot = BootstrapSettings(bootstrap, BOOTSTRAP_SEED, BOOTSTRAP_CONFIDENCE) if bootstrap > 0 else None
    result: dict[str, Any] = evaluate_archives(ref, archive, extractor, settings, cache, reporter, boot)

    sample_json = _read_json(SampleDir(archive.parent).record) or {}
    result["run"] = {"dir": str(run.path), "hash": run.hash, "config": run_config}
    result["sample_config"] = sample_json.get("sample_config")
    result["milestone"] = sample_json.get("milestone")
    result["sampling"] = {k: sample_json.get(k) for k in ("tag", "weights", "classifier", "labels", "noise", "sha256")}
    write_json_atomic(out_path, result)
    return result
