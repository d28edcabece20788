"""`admbench report compare`: sample archives evaluated against one reference batch (by the evaluation package),
rendered as one table in the guidance table's metric layout (FID, sFID, IS, precision, recall, FID 95% CI,
provenance), followed by the extra metrics `--metrics` asked for."""

from __future__ import annotations

from typing import Any

import pandas as pd

from reports.tables import GUIDANCE_METRICS, Table, _fmt, _fmt_ci
from reports.uncertainty import estimate

COMPARE_COLUMNS = ("Archive", "FID", "sFID", "IS", "Precision", "Recall", "FID 95% CI")


def _extra_columns(results: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(column, key) of every requested extra metric, in order, named as the evaluate outputs name it."""
    columns: dict[str, str] = {}
    for result in results:
        names = result.get("metric_names", {})
        for key in result.get("extra_metric_keys", []):
            columns.setdefault(key, names.get(key, key))
    return [(label, key) for key, label in columns.items()]


def _fmt_extra(value: Any) -> str:
    return "" if value is None else f"{float(value):.4g}"


def comparison_table(results: list[dict[str, Any]], names: list[str]) -> Table:
    """One row per archive in the guidance table's metric layout, then the extras; pure (results in, table out)."""
    extras = _extra_columns(results)
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
        for label, key in extras:
            record[label] = result.get(key)
            md.append(_fmt_extra(result.get(key)))
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
    columns = COMPARE_COLUMNS + tuple(label for label, _ in extras)
    return Table("compare", "Comparison of sample archives", pd.DataFrame.from_records(records), columns,
                 tuple(md_rows), tuple(notes))  # fmt: skip
