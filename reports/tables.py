"""The paper's Tables 1-4 as DataFrames: the paper's columns and row labels, our values, the published values,
95% intervals and provenance (extractor, samples, sampler, seeds, runs). Pure: metrics dicts in, tables out.

`results` maps (table, row key, column) to the metrics dicts of that cell, one per seed (the
`<run>/metrics/<tag>.json` files the runners write). A cell without results renders as "pending".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from reports.published import (
    CHECK,
    CROSS,
    DASH,
    TABLE1,
    TABLE1_MILESTONES,
    TABLE2,
    TABLE3,
    guidance_key,
    published_guidance,
    table1_absolute,
    table2_absolute,
)
from reports.uncertainty import Estimate, difference, estimate

Results = Mapping[tuple[str, str, str], Sequence[dict[str, Any]]]
PENDING = "pending"
TABLE_NAMES = {"1": "table1", "2": "table2", "3": "table3", "guidance": "guidance"}


@dataclass(frozen=True)
class Table:
    """One rendered table: the CSV frame, the Markdown cells and the notes printed under it."""

    name: str
    title: str
    frame: pd.DataFrame
    markdown_columns: tuple[str, ...]
    markdown_rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...]


# ----------------------------------------------------------------------------------------------------------------
# Cell helpers.


def milestone_label(step: int) -> str:
    """700000 -> '700K'; 60 -> '60'."""
    return f"{step // 1000}K" if step >= 1000 and step % 1000 == 0 else str(step)


def _metric(results: Sequence[dict[str, Any]], key: str) -> Estimate | None:
    values = [float(r[key]) for r in results if isinstance(r.get(key), (int, float))]
    intervals = None
    if key == "fid":
        intervals = [tuple(r["fid_ci95"]) if r.get("fid_ci95") else None for r in results]  # type: ignore[misc]
        if any(i is None for i in intervals):
            intervals = [None] * len(values)
    return estimate(values, list(intervals) if intervals is not None else [None] * len(values))


def sampler_text(sample_config: dict[str, Any] | None) -> str:
    """'DDIM, 10 steps (eta 0)' / 'DDPM, 250 steps' from a stored SampleConfig dict."""
    if not sample_config:
        return ""
    sampler = str(sample_config.get("sampler", "")).upper()
    respacing = str(sample_config.get("respacing", ""))
    counts = [int(x) for x in re.findall(r"\d+", respacing)]
    steps = f"{sum(counts)} steps" if counts else "all steps"
    text = f"{sampler}, {steps}"
    if sampler == "DDIM":
        text += f" (eta {float(sample_config.get('eta', 0.0)):g})"
    return text


def _provenance(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    if not results:
        return {"Seeds": 0, "Samples": None, "Extractor": "", "Sampler": "", "Runs": ""}
    first = results[0]
    return {
        "Seeds": len(results),
        "Samples": int(first.get("sample", {}).get("num_images", 0)) or None,
        "Extractor": str(first.get("extractor", {}).get("name", "")),
        "Sampler": sampler_text(first.get("sample_config")),
        "Runs": " ".join(str(r.get("run", {}).get("hash", "")) for r in results),
    }


def _fmt(value: float | None, signed: bool = False, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _fmt_ci(e: Estimate | None, signed: bool = False) -> str:
    if e is None or e.ci is None:
        return ""
    return f"[{_fmt(e.ci[0], signed)}, {_fmt(e.ci[1], signed)}]"


def _ours(e: Estimate | None, signed: bool = False) -> str:
    return PENDING if e is None else _fmt(e.value, signed)


def _lo(e: Estimate | None) -> float | None:
    return None if e is None or e.ci is None else e.ci[0]


def _hi(e: Estimate | None) -> float | None:
    return None if e is None or e.ci is None else e.ci[1]


def _val(e: Estimate | None) -> float | None:
    return None if e is None else e.value


def _relative(row: Estimate | None, base: Estimate | None, is_base: bool) -> Estimate | None:
    """The value shown in a difference table: absolute for the baseline row, row - baseline otherwise."""
    if is_base or row is None:
        return row
    if base is None:
        return None
    return difference(row, base)


def _common_notes(all_results: list[dict[str, Any]], seeds: int, differences: bool) -> list[str]:
    notes = []
    if all_results:
        ex = all_results[0].get("extractor", {})
        names = sorted({str(r.get("extractor", {}).get("name", "")) for r in all_results})
        samples = sorted({int(r.get("sample", {}).get("num_images", 0)) for r in all_results})
        samplers = sorted({sampler_text(r.get("sample_config")) for r in all_results})
        notes.append(
            f"Ours: extractor {', '.join(f'`{n}`' for n in names)} (weights sha256 `{str(ex.get('weights_sha256', ''))[:12]}`), "
            f"{'/'.join(str(s) for s in samples)} samples per row, sampler {'; '.join(samplers)}, "
            f"{seeds} training seed(s) (values are means over seeds)."
        )
        if not all(bool(r.get("extractor", {}).get("reference_inception", False)) for r in all_results):
            notes.append(
                "These numbers use a proxy feature extractor, not Inception-v3: they are not comparable to the "
                "paper's values, which are printed only for orientation."
            )
    if differences:
        notes.append(
            "The first row is absolute; the others are differences from it (ours and the paper's). 95% CI: for the "
            "first row the bootstrap interval of FID over the sample features (across seeds when seeds > 1), for the "
            "other rows the interval of the difference from the first row (the two rows' errors combined as if "
            "independent; runs that share seeds are positively correlated, so this interval is conservative)."
        )
    else:
        notes.append("95% CI: bootstrap interval of FID over the sample features (across seeds when seeds > 1).")
    return notes


def _title(base: str, all_results: list[dict[str, Any]]) -> str:
    """The table title; proxy-extractor tables say which features their FID uses (never called Inception FID)."""
    proxies = sorted({str(r.get("extractor", {}).get("name", "")) for r in all_results
                      if not r.get("extractor", {}).get("reference_inception", False)})  # fmt: skip
    return f"{base}: FID ({', '.join(proxies)}), not Inception FID" if proxies else base


def _pending_note(pending: int) -> list[str]:
    return [f"{pending} cell(s) are {PENDING}: their runs have not been evaluated yet."] if pending else []


# ----------------------------------------------------------------------------------------------------------------
# Table 1.

TABLE1_SETTING_COLUMNS = ("Channels", "Depth", "Heads", "Attention resolutions", "BigGAN up/down", "Rescale resblock")


def table1(results: Results, milestones: tuple[int, int], seeds: int) -> Table:
    """Architecture ablation (paper Table 1): FID at two milestones, rows 2-7 as differences from row 1."""
    l1, l2 = (milestone_label(m) for m in milestones)
    p1, p2 = (milestone_label(m) for m in TABLE1_MILESTONES)
    base = {c: _metric(results.get(("1", TABLE1[0].key, c), []), "fid") for c in ("m1", "m2")}
    records, md_rows, everything, pending = [], [], [], 0
    for i, row in enumerate(TABLE1):
        settings = (row.channels, row.depth, row.heads, row.attention, row.updown, row.rescale)
        record: dict[str, Any] = {"row": row.key, **dict(zip(TABLE1_SETTING_COLUMNS, settings))}
        md = list(settings)
        absolute_paper = table1_absolute(row)
        cell_results: list[dict[str, Any]] = []
        for column, label, plabel, paper, paper_abs in (
            ("m1", l1, p1, row.fid_700k, absolute_paper[0]),
            ("m2", l2, p2, row.fid_1200k, absolute_paper[1]),
        ):
            res = list(results.get(("1", row.key, column), []))
            cell_results += res
            absolute = _metric(res, "fid")
            shown = _relative(absolute, base[column], i == 0)
            pending += absolute is None
            record[f"FID {label}"] = _val(shown)
            record[f"FID {label} CI low"] = _lo(shown)
            record[f"FID {label} CI high"] = _hi(shown)
            record[f"Paper FID {plabel}"] = paper
            record[f"FID {label} absolute"] = _val(absolute)
            record[f"Paper FID {plabel} absolute"] = paper_abs
            md += [_ours(shown, i > 0), _fmt_ci(shown, i > 0), _fmt(paper, i > 0)]
        everything += cell_results
        record.update(_provenance(cell_results))
        records.append(record)
        md_rows.append(tuple(md))
    columns = (*TABLE1_SETTING_COLUMNS, f"FID {l1}", f"FID {l1} 95% CI", f"Paper FID {p1}",
               f"FID {l2}", f"FID {l2} 95% CI", f"Paper FID {p2}")  # fmt: skip
    notes = _common_notes(everything, seeds, differences=True) + _pending_note(pending)
    notes.append(f"Milestones: ours {l1} / {l2} training steps; the paper's {p1} / {p2} iterations.")
    return Table("table1", _title("Table 1: architecture ablation (FID at two milestones)", everything), pd.DataFrame.from_records(records),
                 columns, tuple(md_rows), tuple(notes))  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# Tables 2 and 3.


def table2(results: Results, seeds: int) -> Table:
    """Attention heads / channels per head (paper Table 2), rows 2-7 as differences from row 1."""
    base = _metric(results.get(("2", TABLE2[0].key, "fid"), []), "fid")
    records, md_rows, everything, pending = [], [], [], 0
    for i, row in enumerate(TABLE2):
        res = list(results.get(("2", row.key, "fid"), []))
        everything += res
        absolute = _metric(res, "fid")
        shown = _relative(absolute, base, i == 0)
        pending += absolute is None
        records.append({
            "row": row.key, "Number of heads": row.heads, "Channels per head": row.head_channels,
            "FID": _val(shown), "FID CI low": _lo(shown), "FID CI high": _hi(shown), "Paper FID": row.fid,
            "FID absolute": _val(absolute), "Paper FID absolute": table2_absolute(row), **_provenance(res),
        })  # fmt: skip
        md_rows.append((row.heads, row.head_channels, _ours(shown, i > 0), _fmt_ci(shown, i > 0), _fmt(row.fid, i > 0)))
    notes = _common_notes(everything, seeds, differences=True) + _pending_note(pending)
    return Table("table2", _title("Table 2: attention heads and channels per head (FID)", everything), pd.DataFrame.from_records(records),
                 ("Number of heads", "Channels per head", "FID", "FID 95% CI", "Paper FID"), tuple(md_rows),
                 tuple(notes))  # fmt: skip


def table3(results: Results, seeds: int) -> Table:
    """AdaGN vs Addition + GroupNorm (paper Table 3); both rows absolute."""
    records, md_rows, everything, pending = [], [], [], 0
    for row in TABLE3:
        res = list(results.get(("3", row.key, "fid"), []))
        everything += res
        value = _metric(res, "fid")
        pending += value is None
        records.append({
            "row": row.key, "Operation": row.operation, "FID": _val(value), "FID CI low": _lo(value),
            "FID CI high": _hi(value), "Paper FID": row.fid, **_provenance(res),
        })  # fmt: skip
        md_rows.append((row.operation, _ours(value), _fmt_ci(value), _fmt(row.fid)))
    notes = _common_notes(everything, seeds, differences=False) + _pending_note(pending)
    return Table("table3", _title("Table 3: AdaGN vs Addition + GroupNorm (FID)", everything), pd.DataFrame.from_records(records),
                 ("Operation", "FID", "FID 95% CI", "Paper FID"), tuple(md_rows), tuple(notes))  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# Guidance (paper Table 4).

GUIDANCE_METRICS = (("FID", "fid"), ("sFID", "sfid"), ("IS", "inception_score"), ("Precision", "precision"),
                    ("Recall", "recall"))  # fmt: skip


def guidance_rows(scales: Sequence[float]) -> list[tuple[bool, float | None]]:
    """Row order of the guidance table: unconditional then conditional; no guidance, then each scale."""
    return [(cond, scale) for cond in (False, True) for scale in (None, *scales)]


def guidance(results: Results, scales: Sequence[float], seeds: int) -> Table:
    """Classifier guidance (paper Table 4) at the preset's scales; paper values where the paper has the row."""
    records, md_rows, everything, pending = [], [], [], 0
    for cond, scale in guidance_rows(scales):
        key = guidance_key(cond, scale)
        res = list(results.get(("guidance", key, "all"), []))
        everything += res
        paper = published_guidance(cond, scale)
        marks = (CHECK if cond else CROSS, CROSS if scale is None else CHECK, DASH if scale is None else f"{scale:.1f}")
        record: dict[str, Any] = {"row": key, "Conditional": marks[0], "Guidance": marks[1], "Scale": marks[2]}
        md = list(marks)
        values = {}
        for label, metric in GUIDANCE_METRICS:
            values[metric] = _metric(res, metric)
            record[label] = _val(values[metric])
            md.append(_ours(values[metric]))
        pending += values["fid"] is None
        record["FID CI low"], record["FID CI high"] = _lo(values["fid"]), _hi(values["fid"])
        md.append(_fmt_ci(values["fid"]))
        for label, metric in GUIDANCE_METRICS:
            published = None if paper is None else float(getattr(paper, metric))
            record[f"Paper {label}"] = published
            md.append(_fmt(published))
        record.update(_provenance(res))
        records.append(record)
        md_rows.append(tuple(md))
    columns = ("Conditional", "Guidance", "Scale", "FID", "sFID", "IS", "Precision", "Recall", "FID 95% CI",
               "Paper FID", "Paper sFID", "Paper IS", "Paper Precision", "Paper Recall")  # fmt: skip
    notes = _common_notes(everything, seeds, differences=False) + _pending_note(pending)
    notes.append("Paper: ImageNet 256x256, models trained for 2M iterations, 250 sampling steps, 50k samples; "
                 "empty paper cells are scales the paper did not report.")  # fmt: skip
    return Table("guidance", _title("Classifier guidance (paper Table 4)", everything), pd.DataFrame.from_records(records), columns,
                 tuple(md_rows), tuple(notes))  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# Output formats.


def _escape(cell: str) -> str:
    return str(cell).replace("|", "\\|")


def to_markdown(table: Table) -> str:
    """The table as GitHub Markdown: title, header, rows, then the notes."""
    lines = [f"## {table.title}", ""]
    lines.append("| " + " | ".join(_escape(c) for c in table.markdown_columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.markdown_columns) + "|")
    for row in table.markdown_rows:
        lines.append("| " + " | ".join(_escape(c) for c in row) + " |")
    lines.append("")
    lines += [f"- {note}" for note in table.notes]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """The full frame as CSV (UTF-8, check marks kept, empty cells for missing values)."""
    return table.frame.to_csv(index=False, lineterminator="\n")
