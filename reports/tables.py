"""The paper's Tables 1-4 as DataFrames: the paper's columns and row labels, our values, the published values,
95% intervals, significance marks and provenance (extractor, samples, sampler, weights, seeds, runs). Pure:
metrics dicts in, tables out.

`results` maps (table, row key, column) to the metrics dicts of that cell, one per seed (the
`<run>/metrics/<tag>.json` files the runners write). A cell without results renders as "pending". A value
followed by `*` differs from the value it is compared with (the first row; for guided rows, the same model
without guidance) by a 95% interval that excludes zero.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from benchmark.diffusion.respacing import Respacing
from benchmark.diffusion.sampling import Sampler
from benchmark.paper import (
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
    table1_cells,
    table2_absolute,
)
from reports.uncertainty import Estimate, difference, estimate

Results = Mapping[tuple[str, str, str], Sequence[dict[str, Any]]]
PENDING = "pending"
SIGNIFICANT = "*"
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


def sampler_text(sample_config: dict[str, Any] | None) -> str:
    """'DDIM, 10 steps (eta 0)' / 'DDPM, 250 steps' from a stored SampleConfig dict."""
    if not sample_config:
        return ""
    sampler = Sampler(sample_config.get("sampler", Sampler.DDPM.value))
    count = Respacing.parse(str(sample_config.get("respacing", ""))).count
    steps = f"{count} steps" if count is not None else "all steps"
    text = f"{sampler.value.upper()}, {steps}"
    if sampler is Sampler.DDIM:
        text += f" (eta {float(sample_config.get('eta', 0.0)):g})"
    if sample_config.get("precision", "fp32") != "fp32":
        text += f", {sample_config['precision']}"
    return text


def weights_text(result: dict[str, Any]) -> str:
    """Which weights were sampled: 'EMA 0.995 (warm-up), step 450', 'raw weights, step 40', 'released checkpoint'."""
    config = result.get("sample_config") or {}
    run = (result.get("run") or {}).get("config") or {}
    step = result.get("milestone")
    if run.get("kind") == "gd-checkpoint" or (step is None and not config.get("use_ema", True)):
        return "released checkpoint weights"
    at = f", step {step}" if step is not None else ""
    if not config.get("use_ema", True):
        return f"raw weights{at}"
    rate = config.get("ema_rate")
    warm = " with warm-up min(rate, (1+t)/(10+t))" if (run.get("train") or {}).get("ema_warmup") else ""
    return f"EMA {rate:g}{warm}{at}" if isinstance(rate, (int, float)) else f"EMA{warm}{at}"


def _provenance(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    if not results:
        return {"Seeds": 0, "Samples": None, "Extractor": "", "Sampler": "", "Weights": "", "Runs": ""}
    first = results[0]
    return {
        "Seeds": len(results),
        "Samples": int(first.get("sample", {}).get("num_images", 0)) or None,
        "Extractor": str(first.get("extractor", {}).get("name", "")),
        "Sampler": sampler_text(first.get("sample_config")),
        "Weights": weights_text(first),
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


def _ours(e: Estimate | None, signed: bool = False, marked: bool = False) -> str:
    """A cell of ours: the value, with the significance mark when `marked` (a significant comparison)."""
    if e is None:
        return PENDING
    return _fmt(e.value, signed) + (SIGNIFICANT if marked else "")


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


def _significant(e: Estimate | None, is_base: bool) -> bool | None:
    return None if is_base or e is None or e.ci is None else e.significant


def _steps(results: Sequence[dict[str, Any]]) -> int | None:
    steps = [r.get("milestone") for r in results if isinstance(r.get("milestone"), int)]
    return min(steps) if steps else None


def _common_notes(all_results: list[dict[str, Any]], seeds: int, differences: bool) -> list[str]:
    notes = []
    if all_results:
        ex = all_results[0].get("extractor", {})
        names = sorted({str(r.get("extractor", {}).get("name", "")) for r in all_results})
        samples = sorted({int(r.get("sample", {}).get("num_images", 0)) for r in all_results})
        samplers = sorted({sampler_text(r.get("sample_config")) for r in all_results})
        weights = sorted({re.sub(r", step \d+$", "", weights_text(r)) for r in all_results})
        notes.append(
            f"Ours: extractor {', '.join(f'`{n}`' for n in names)} (weights sha256 `{str(ex.get('weights_sha256', ''))[:12]}`), "
            f"{'/'.join(str(s) for s in samples)} samples per row, sampler {'; '.join(samplers)}, "
            f"{seeds} training seed(s) (values are means over seeds)."
        )
        notes.append(f"Weights sampled: {'; '.join(weights)}.")
        if not all(bool(r.get("extractor", {}).get("reference_inception", False)) for r in all_results):
            notes.append(
                "These numbers use a proxy feature extractor, not Inception-v3: they are not comparable to the "
                "paper's values, which are printed only for orientation."
            )
    if differences:
        notes.append(
            "The first row is absolute; the others are differences from it (ours and the paper's). 95% CI: for the "
            "first row the bootstrap interval over the sample images (across seeds when seeds > 1), for the other "
            "rows the interval of the difference from the first row (paired bootstrap: both archives resampled "
            f"with the same indices). `{SIGNIFICANT}`: the interval excludes zero."
        )
    else:
        notes.append("95% CI: bootstrap interval over the sample images (across seeds when seeds > 1).")
    return notes


def _short_note(named: list[tuple[str, list[dict[str, Any]]]], evidence_steps: int) -> list[str]:
    """Names the rows trained fewer than the preset's `evidence_steps` (nothing is judged from them)."""
    trained = [(name, _steps(res)) for name, res in named if _steps(res) is not None]
    short = [(name, steps) for name, steps in trained if evidence_steps and steps < evidence_steps]  # type: ignore[operator]
    if not short:
        return []
    which = ("every row" if len(short) == len(trained)
             else "rows " + ", ".join(f"`{name}`" for name, _ in short))  # fmt: skip
    steps = sorted({int(s) for _, s in short})  # type: ignore[arg-type]
    return [f"Too short to mean anything: {which} trained {'/'.join(map(str, steps))} steps, fewer than the "
            f"{evidence_steps} this preset needs before a row says more about the architecture than about its "
            "initialisation; no claim is judged from them."]  # fmt: skip


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


def table1(results: Results, milestones: tuple[int, int], seeds: int, evidence_steps: int = 0) -> Table:
    """Architecture ablation (paper Table 1): FID at two milestones, rows 2-7 as differences from row 1."""
    l1, l2 = (milestone_label(m) for m in milestones)
    p1, p2 = (milestone_label(m) for m in TABLE1_MILESTONES)
    base = {c: estimate(results.get(("1", TABLE1[0].key, c), []), "fid") for c in ("m1", "m2")}
    records, md_rows, everything, pending = [], [], [], 0
    named: list[tuple[str, list[dict[str, Any]]]] = []
    for i, row in enumerate(TABLE1):
        settings = table1_cells(row)
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
            absolute = estimate(res, "fid")
            shown = _relative(absolute, base[column], i == 0)
            sig = _significant(shown, i == 0)
            pending += absolute is None
            record[f"FID {label}"] = _val(shown)
            record[f"FID {label} CI low"] = _lo(shown)
            record[f"FID {label} CI high"] = _hi(shown)
            record[f"FID {label} significant"] = sig
            record[f"Paper FID {plabel}"] = paper
            record[f"FID {label} absolute"] = _val(absolute)
            record[f"Paper FID {plabel} absolute"] = paper_abs
            md += [_ours(shown, i > 0, bool(sig)), _fmt_ci(shown, i > 0), _fmt(paper, i > 0)]
        everything += cell_results
        named.append((row.key, cell_results))
        record.update(_provenance(cell_results))
        records.append(record)
        md_rows.append(tuple(md))
    columns = (*TABLE1_SETTING_COLUMNS, f"FID {l1}", f"FID {l1} 95% CI", f"Paper FID {p1}",
               f"FID {l2}", f"FID {l2} 95% CI", f"Paper FID {p2}")  # fmt: skip
    notes = _common_notes(everything, seeds, differences=True) + _pending_note(pending)
    notes.append(f"Milestones: ours {l1} / {l2} training steps; the paper's {p1} / {p2} iterations.")
    notes += _short_note(named, evidence_steps)
    return Table("table1", _title("Table 1: architecture ablation (FID at two milestones)", everything), pd.DataFrame.from_records(records),
                 columns, tuple(md_rows), tuple(notes))  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# Tables 2 and 3.


def table2(results: Results, seeds: int, evidence_steps: int = 0) -> Table:
    """Attention heads / channels per head (paper Table 2), rows 2-7 as differences from row 1."""
    base = estimate(results.get(("2", TABLE2[0].key, "fid"), []), "fid")
    records, md_rows, everything, pending = [], [], [], 0
    named: list[tuple[str, list[dict[str, Any]]]] = []
    for i, row in enumerate(TABLE2):
        res = list(results.get(("2", row.key, "fid"), []))
        everything += res
        named.append((row.key, res))
        absolute = estimate(res, "fid")
        shown = _relative(absolute, base, i == 0)
        sig = _significant(shown, i == 0)
        pending += absolute is None
        heads, head_channels = row.cells()
        records.append({
            "row": row.key, "Number of heads": heads, "Channels per head": head_channels,
            "FID": _val(shown), "FID CI low": _lo(shown), "FID CI high": _hi(shown), "FID significant": sig,
            "Paper FID": row.fid, "FID absolute": _val(absolute), "Paper FID absolute": table2_absolute(row),
            **_provenance(res),
        })  # fmt: skip
        md_rows.append((heads, head_channels, _ours(shown, i > 0, bool(sig)), _fmt_ci(shown, i > 0), _fmt(row.fid, i > 0)))
    notes = _common_notes(everything, seeds, differences=True) + _pending_note(pending) + _short_note(named, evidence_steps)
    return Table("table2", _title("Table 2: attention heads and channels per head (FID)", everything), pd.DataFrame.from_records(records),
                 ("Number of heads", "Channels per head", "FID", "FID 95% CI", "Paper FID"), tuple(md_rows),
                 tuple(notes))  # fmt: skip


def table3(results: Results, seeds: int, evidence_steps: int = 0) -> Table:
    """AdaGN vs Addition + GroupNorm (paper Table 3); both rows absolute, the second with its difference."""
    records, md_rows, everything, pending = [], [], [], 0
    base = estimate(results.get(("3", TABLE3[0].key, "fid"), []), "fid")
    named: list[tuple[str, list[dict[str, Any]]]] = []
    for i, row in enumerate(TABLE3):
        res = list(results.get(("3", row.key, "fid"), []))
        everything += res
        named.append((row.key, res))
        value = estimate(res, "fid")
        diff = None if i == 0 or value is None or base is None else difference(value, base)
        sig = _significant(diff, i == 0)
        pending += value is None
        records.append({
            "row": row.key, "Operation": row.operation, "FID": _val(value), "FID CI low": _lo(value),
            "FID CI high": _hi(value), "Difference from AdaGN": _val(diff), "Difference CI low": _lo(diff),
            "Difference CI high": _hi(diff), "Difference significant": sig, "Paper FID": row.fid, **_provenance(res),
        })  # fmt: skip
        paper_diff = "" if i == 0 else _fmt(row.fid - TABLE3[0].fid, True)
        md_rows.append((row.operation, _ours(value), _fmt_ci(value), "" if diff is None else _ours(diff, True, bool(sig)),
                        _fmt_ci(diff, True), _fmt(row.fid), paper_diff))  # fmt: skip
    notes = _common_notes(everything, seeds, differences=False) + _pending_note(pending)
    notes.append(f"Difference: Addition + GroupNorm minus AdaGN, with the paired 95% interval; `{SIGNIFICANT}`: it excludes zero.")
    notes += _short_note(named, evidence_steps)
    return Table("table3", _title("Table 3: AdaGN vs Addition + GroupNorm (FID)", everything), pd.DataFrame.from_records(records),
                 ("Operation", "FID", "FID 95% CI", "Difference", "Difference 95% CI", "Paper FID", "Paper difference"),
                 tuple(md_rows), tuple(notes))  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# Guidance (paper Table 4).

GUIDANCE_METRICS = (("FID", "fid"), ("sFID", "sfid"), ("IS", "inception_score"), ("Precision", "precision"),
                    ("Recall", "recall"))  # fmt: skip
#: Metrics the guidance table shows beyond the paper's five (the paper has no published values for them).
GUIDANCE_EXTRA = (("Label accuracy", "label_accuracy"),)


def guidance_rows(scales: Sequence[float]) -> list[tuple[bool, float | None]]:
    """Row order of the guidance table: unconditional then conditional; no guidance, then each scale."""
    return [(cond, scale) for cond in (False, True) for scale in (None, *scales)]


def guidance(results: Results, scales: Sequence[float], seeds: int, evidence_steps: int = 0) -> Table:
    """Classifier guidance (paper Table 4) at the preset's scales; paper values where the paper has the row.

    Each guided row's values are marked where they differ significantly from the same model without guidance."""
    records, md_rows, everything, pending = [], [], [], 0
    shown_metrics = (*GUIDANCE_METRICS, *GUIDANCE_EXTRA)
    named: list[tuple[str, list[dict[str, Any]]]] = []
    for cond, scale in guidance_rows(scales):
        key = guidance_key(cond, scale)
        res = list(results.get(("guidance", key, "all"), []))
        unguided = list(results.get(("guidance", guidance_key(cond, None), "all"), []))
        everything += res
        named.append((key, res))
        paper = published_guidance(cond, scale)
        marks = (CHECK if cond else CROSS, CROSS if scale is None else CHECK, DASH if scale is None else f"{scale:.1f}")
        record: dict[str, Any] = {"row": key, "Conditional": marks[0], "Guidance": marks[1], "Scale": marks[2]}
        md = list(marks)
        values = {}
        for label, metric in shown_metrics:
            values[metric] = estimate(res, metric)
            base = estimate(unguided, metric) if scale is not None else None
            diff = None if values[metric] is None or base is None else difference(values[metric], base)
            sig = _significant(diff, scale is None)
            record[label] = _val(values[metric])
            record[f"{label} vs no guidance"] = _val(diff)
            record[f"{label} vs no guidance significant"] = sig
            digits = 3 if metric in ("precision", "recall", "label_accuracy") else 2
            md.append(PENDING if values[metric] is None and metric in dict(GUIDANCE_METRICS).values()
                      else ("" if values[metric] is None else _fmt(values[metric].value, digits=digits) + (SIGNIFICANT if sig else "")))  # fmt: skip
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
    columns = ("Conditional", "Guidance", "Scale", "FID", "sFID", "IS", "Precision", "Recall", "Label accuracy",
               "FID 95% CI", "Paper FID", "Paper sFID", "Paper IS", "Paper Precision", "Paper Recall")  # fmt: skip
    notes = _common_notes(everything, seeds, differences=False) + _pending_note(pending)
    notes.append(f"`{SIGNIFICANT}` on a guided row: differs from the same model without guidance by a paired 95% "
                 "interval that excludes zero. Label accuracy: the fraction of samples the extractor classifies as "
                 "the label they were drawn for (empty for unlabelled samples, or extractors without the dataset's "
                 "classes).")  # fmt: skip
    notes.append("Paper: ImageNet 256x256, models trained for 2M iterations, 250 sampling steps, 50k samples; "
                 "empty paper cells are scales the paper did not report.")  # fmt: skip
    notes += _short_note(named, evidence_steps)
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
