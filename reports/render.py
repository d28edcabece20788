"""Render `<out>/report/` from a reproduction's stored files only: the manifest (`reproduce.json`, which table
cell is filled by which metrics file) and the metrics JSON files; sample grids read the stored archives.
Nothing is recomputed, so `admbench report DIR` re-renders the same report at any time.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmark.errors import InputError
from benchmark.io.atomic import write_text_atomic
from reports import plots
from reports.tables import TABLE_NAMES, Table, guidance, milestone_label, table1, table2, table3, to_csv, to_markdown

MANIFEST_NAME = "reproduce.json"
REPORT_DIR = "report"


def read_manifest(out: str | Path) -> dict[str, Any]:
    """The manifest of a reproduction directory (InputError when there is none)."""
    path = Path(out) / MANIFEST_NAME
    if not path.is_file():
        raise InputError(f"no {MANIFEST_NAME}: not a reproduction directory (run `admbench reproduce --out DIR` first)", out)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"unreadable manifest ({err})", path) from None
    if not isinstance(data, dict) or not isinstance(data.get("slots"), list) or not isinstance(data.get("tables"), list):
        raise InputError("manifest lacks its 'slots' and 'tables' lists", path)
    return data


def _read_metrics(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and "fid" in data else None


def collect_results(out: Path, manifest: dict[str, Any]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """(table, row, column) -> the metrics dicts present, in seed order (absent or unreadable files are pending)."""
    results: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for slot in sorted(manifest["slots"], key=lambda s: s["seed"]):
        if not slot.get("metrics"):
            continue
        metrics = _read_metrics(out / slot["metrics"])
        if metrics is not None:
            results[(slot["table"], slot["row"], slot["column"])].append(metrics)
    return dict(results)


def build_tables(out: Path, manifest: dict[str, Any]) -> list[Table]:
    """The requested tables from the stored metrics files."""
    results = collect_results(out, manifest)
    seeds = int(manifest.get("seeds", 1))
    preset = manifest.get("preset", {})
    tables = []
    for name in manifest["tables"]:
        if name == "1":
            m1, m2 = manifest["milestones"]
            tables.append(table1(results, (int(m1), int(m2)), seeds))
        elif name == "2":
            tables.append(table2(results, seeds))
        elif name == "3":
            tables.append(table3(results, seeds))
        elif name == "guidance":
            tables.append(guidance(results, [float(s) for s in preset.get("guidance_scales", [])], seeds))
    return tables


def _archives(out: Path, manifest: dict[str, Any], table: str, column: str | None) -> dict[str, Path]:
    """Row -> the first seed's sample archive of that table (and column), for the sample grids."""
    found: dict[str, Path] = {}
    for slot in sorted(manifest["slots"], key=lambda s: s["seed"]):
        if slot["table"] != table or (column is not None and slot["column"] != column) or slot["row"] in found:
            continue
        if not slot.get("samples"):
            continue
        archives = sorted((out / slot["samples"]).glob("samples_*.npz"))
        if archives:
            found[slot["row"]] = archives[0]
    return found


def _settings_lines(manifest: dict[str, Any]) -> list[str]:
    p = manifest.get("preset", {})
    m1, m2 = manifest.get("milestones", [0, 0])
    pairs = lambda items: ", ".join(f"{a} -> {b}" for a, b in items)  # noqa: E731
    return [
        f"- Preset `{p.get('name')}`: {p.get('summary', '')}",
        f"- Data: `{manifest.get('dataset')}` at {p.get('resolution')}x{p.get('resolution')}, {p.get('channels')} channel(s); "
        f"class-conditional ablation models: {p.get('class_cond')}.",
        f"- Network mapping (paper -> ours): channels {pairs(p.get('widths', []))}; depth {pairs(p.get('depths', []))}; "
        f"channels per head {pairs(p.get('head_channels', []))}; channel_mult {tuple(p.get('channel_mult', []))}; "
        "attention resolutions mapped by their position above the network's lowest level.",
        f"- Training: batch {p.get('batch_size')}, lr {p.get('lr')}, EMA {p.get('ema_rate')}, milestones "
        f"{milestone_label(int(m1))} / {milestone_label(int(m2))} (the paper's 700K / 1200K), hybrid loss, learned variance.",
        f"- Sampling: {p.get('num_samples')} samples per row, {p.get('sampler')} `{p.get('respacing')}`; guidance table "
        f"{p.get('guidance_num_samples')} samples, {p.get('guidance_sampler')} `{p.get('guidance_respacing')}`, scales "
        f"{p.get('guidance_scales')}, models {'released by the paper' if p.get('guidance_source') == 'released' else 'trained here'}.",
        f"- Evaluation: extractor `{p.get('extractor')}`, FID bootstrap resamples {p.get('bootstrap')}, seeds {manifest.get('seeds')}.",
    ]


def render_report(out: str | Path) -> list[Path]:
    """Write `<out>/report/` (tables as .md and .csv, PNG figures, README.md); returns the files written."""
    out = Path(out)
    manifest = read_manifest(out)
    report = out / REPORT_DIR
    report.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    tables = build_tables(out, manifest)
    for table in tables:
        for suffix, text in ((".md", to_markdown(table)), (".csv", to_csv(table))):
            path = report / f"{table.name}{suffix}"
            write_text_atomic(path, text)
            written.append(path)

    figures: list[tuple[str, Path | None]] = []
    by_name = {t.name: t for t in tables}
    extractor = str(manifest.get("preset", {}).get("extractor", "inception-v3"))
    if "guidance" in by_name:
        frame = by_name["guidance"].frame
        figures.append(("Guidance scale vs FID and IS", plots.guidance_sweep(frame, extractor, report / "guidance_scale.png")))
        figures.append(("Precision vs recall across scales", plots.precision_recall(frame, extractor, report / "precision_recall.png")))
        figures.append(("Guidance samples", plots.sample_grids(_archives(out, manifest, "guidance", None),
                                                               "Guidance: samples", report / "samples_guidance.png")))  # fmt: skip
    if "table1" in by_name:
        labels = tuple(milestone_label(int(m)) for m in manifest["milestones"])
        figures.append(("FID at the two milestones", plots.milestones(by_name["table1"].frame, labels, extractor,  # type: ignore[arg-type]
                                                                      report / "table1_milestones.png")))  # fmt: skip
        figures.append(("Table 1 samples", plots.sample_grids(_archives(out, manifest, "1", "m2"),
                                                              "Table 1 variants: samples", report / "samples_table1.png")))  # fmt: skip
    for key, name in (("2", "table2"), ("3", "table3")):
        if name in by_name:
            figures.append((f"Table {key} samples", plots.sample_grids(_archives(out, manifest, key, None),
                                                                      f"Table {key} variants: samples",
                                                                      report / f"samples_{name}.png")))  # fmt: skip
    written += [p for _, p in figures if p is not None]

    lines = ["# admbench reproduction report", ""]
    preset = manifest.get("preset", {})
    if preset.get("extractor") != "inception-v3" or preset.get("name") == "smoke":
        lines += [
            "> These numbers come from a reduced setting (preset `{}`) and the `{}` features. They show that the "
            "pipeline runs end to end; they are not evidence for or against the paper's claims.".format(
                preset.get("name"), preset.get("extractor")),
            "",
        ]  # fmt: skip
    lines += ["## Settings", "", *_settings_lines(manifest), "", "## Tables", ""]
    for table in tables:
        lines.append(f"- [{table.title}]({table.name}.md) ([CSV]({table.name}.csv))")
    lines += ["", "## Figures", ""]
    for title, path in figures:
        if path is not None:
            lines.append(f"- [{title}]({path.name})")
    lines += ["", "Rendered from the stored metrics files by `admbench report DIR`; nothing is recomputed.", ""]
    for table in tables:
        lines += [to_markdown(table)]
    readme = report / "README.md"
    write_text_atomic(readme, "\n".join(lines))
    written.append(readme)
    return written


__all__ = ["MANIFEST_NAME", "REPORT_DIR", "TABLE_NAMES", "read_manifest", "collect_results", "build_tables",
           "render_report"]  # fmt: skip
