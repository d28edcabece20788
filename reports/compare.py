"""`admbench report compare`: evaluate third-party sample archives against one reference batch into a single
table in the guidance table's metric layout (FID, sFID, IS, precision, recall, FID 95% CI, provenance)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from benchmark import paths
from benchmark.errors import InputError
from benchmark.progress import QuietReporter, Reporter
from reports.tables import GUIDANCE_METRICS, Table, _fmt, _fmt_ci
from reports.uncertainty import estimate

COMPARE_COLUMNS = ("Archive", "FID", "sFID", "IS", "Precision", "Recall", "FID 95% CI")
BOOTSTRAP_SEED = 0


def evaluate_many(ref: str | Path, archives: list[str | Path], extractor_name: str, device: str = "cpu",
                  bootstrap: int = 0, cache_dir: str | Path | None = None,
                  reporter: Reporter | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """evaluate_archives for every archive against `ref` (one extractor, one feature cache).

    Every input is checked (`check_inputs`) before the first archive is evaluated."""
    from benchmark.evaluation.bootstrap import BootstrapSettings
    from benchmark.evaluation.cache import FeatureCache
    from benchmark.evaluation.evaluate import EvalSettings, check_inputs, evaluate_archives
    from benchmark.extractors.base import ExtractorOptions
    from benchmark.extractors.registry import build_extractor

    if not archives:
        raise InputError("give at least one sample archive to compare")
    if bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {bootstrap}")
    reporter = reporter or QuietReporter()
    root = paths.cache_root(cache_dir)
    extractor = build_extractor(extractor_name, ExtractorOptions(device=device, cache_dir=root))
    settings = EvalSettings(device=device)
    for archive in archives:
        check_inputs(ref, archive, extractor.info, settings)
    cache = FeatureCache(root)
    boot = BootstrapSettings(bootstrap, BOOTSTRAP_SEED) if bootstrap else None
    return [evaluate_archives(ref, archive, extractor, settings, cache, reporter, boot) for archive in archives]


def comparison_table(results: list[dict[str, Any]], names: list[str]) -> Table:
    """One row per archive in the guidance table's metric layout; pure (results in, table out)."""
    records, md_rows = [], []
    for name, result in zip(names, results):
        record: dict[str, Any] = {"Archive": name}
        md = [name]
        for label, metric in GUIDANCE_METRICS:
            e = estimate([result], metric)
            record[label] = None if e is None else e.value
            md.append(_fmt(None if e is None else e.value))
        fid = estimate([result], "fid")
        record["FID CI low"] = None if fid is None or fid.ci is None else fid.ci[0]
        record["FID CI high"] = None if fid is None or fid.ci is None else fid.ci[1]
        md.append(_fmt_ci(fid))
        record["Samples"] = result.get("sample", {}).get("num_images")
        record["Extractor"] = result.get("extractor", {}).get("name", "")
        record["Reference"] = result.get("reference", {}).get("path", "")
        records.append(record)
        md_rows.append(tuple(md))
    notes = []
    if results:
        ex = results[0].get("extractor", {})
        ref = results[0].get("reference", {})
        notes.append(f"Reference `{ref.get('path')}` ({ref.get('num_images')} images; statistics {ref.get('statistics')}); "
                     f"extractor `{ex.get('name')}` (weights sha256 `{str(ex.get('weights_sha256', ''))[:12]}`).")  # fmt: skip
        if not ex.get("reference_inception", False):
            notes.append("Proxy features, not Inception-v3: not comparable to published Inception numbers.")
    notes.append("95% CI: bootstrap interval of FID over each archive's sample features (empty without --bootstrap).")
    return Table("compare", "Comparison of sample archives", pd.DataFrame.from_records(records), COMPARE_COLUMNS,
                 tuple(md_rows), tuple(notes))  # fmt: skip
