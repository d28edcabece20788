"""Render `<out>/report/` from a reproduction's stored files only: the manifest (`reproduce.json`, which table
cell is filled by which metrics file) and the metrics JSON files; sample grids read the stored archives.
Nothing is recomputed, so `admbench report DIR` re-renders the same report at any time.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmark.errors import InputError
from benchmark.io.atomic import write_text_atomic
from benchmark.io.json_input import read_json_object
from benchmark.paper import paper_claims
from reports import plots
from reports.claims import claims_markdown
from reports.tables import (
    TABLE_NAMES,
    Results,
    Table,
    guidance,
    milestone_label,
    table1,
    table2,
    table3,
    to_csv,
    to_markdown,
)
from runners.rundir import SampleDir

MANIFEST_NAME = "reproduce.json"
REPORT_DIR = "report"


def read_manifest(out: str | Path) -> dict[str, Any]:
    """The manifest of a reproduction directory, its slots checked (InputError when there is none or it is wrong)."""
    path = Path(out) / MANIFEST_NAME
    if not path.exists():
        raise InputError(f"no {MANIFEST_NAME}: not a reproduction directory (run `admbench reproduce --out DIR` first)", out)
    data = read_json_object(path, "reproduction manifest")
    if not isinstance(data.get("slots"), list) or not isinstance(data.get("tables"), list):
        raise InputError("manifest lacks its 'slots' and 'tables' lists", path)
    for i, slot in enumerate(data["slots"]):
        if not _is_slot(slot):
            raise InputError(f"manifest slot {i} is not a table cell (table, row and column names, an integer seed, "
                             "and metrics / samples paths that stay inside the directory)", path)  # fmt: skip
    return data


def _is_path(rel: object) -> bool:
    """A path relative to the reproduction directory that does not climb out of it, or an absolute path (what the
    plan records for a file outside it); None: the slot has no such file."""
    return rel is None or (isinstance(rel, str) and bool(rel) and ".." not in Path(rel).parts)


def _is_slot(slot: object) -> bool:
    return (isinstance(slot, dict) and all(isinstance(slot.get(k), str) for k in ("table", "row", "column"))
            and isinstance(slot.get("seed"), int) and not isinstance(slot.get("seed"), bool)
            and _is_path(slot.get("metrics")) and _is_path(slot.get("samples")))  # fmt: skip


def _read_metrics(path: Path) -> dict[str, Any] | None:
    """A stored metrics file; None while it does not exist yet (pending). Metrics files are written atomically, so
    one that exists but cannot be read, or has no numeric FID, is damaged and refused, never shown as pending."""
    if not path.exists() and not path.is_symlink():
        return None
    data = read_json_object(path, "metrics file")
    fid = data.get("fid")
    if not isinstance(fid, (int, float)) or isinstance(fid, bool):
        raise InputError("metrics file has no numeric 'fid'", path)
    return data


def collect_results(out: Path, manifest: dict[str, Any]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """(table, row, column) -> the metrics dicts present, in seed order (files not written yet are pending)."""
    results: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for slot in sorted(manifest["slots"], key=lambda s: s["seed"]):
        if not slot.get("metrics"):
            continue
        metrics = _read_metrics(out / slot["metrics"])
        if metrics is not None:
            results[(slot["table"], slot["row"], slot["column"])].append(metrics)
    return dict(results)


def build_tables(out: Path, manifest: dict[str, Any], results: Results | None = None) -> list[Table]:
    """The requested tables from the stored metrics files (or from `results`, already collected from them)."""
    results = collect_results(out, manifest) if results is None else results
    seeds = int(manifest.get("seeds", 1))
    evidence = int(manifest.get("evidence_steps", 0))
    tables = []
    for name in manifest["tables"]:
        if name == "1":
            m1, m2 = manifest["milestones"]
            tables.append(table1(results, (int(m1), int(m2)), seeds, evidence))
        elif name == "2":
            tables.append(table2(results, seeds, evidence))
        elif name == "3":
            tables.append(table3(results, seeds, evidence))
        elif name == "guidance":
            tables.append(guidance(results, guidance_scales(manifest), seeds, evidence))
    return tables


def guidance_scales(manifest: dict[str, Any]) -> list[float]:
    """The guidance scales of a manifest's preset."""
    return [float(s) for s in (manifest.get("preset", {}).get("guidance") or {}).get("scales", [])]


def _archives(out: Path, manifest: dict[str, Any], table: str, column: str | None) -> dict[str, Path]:
    """Row -> the first seed's sample archive of that table (and column), for the sample grids."""
    found: dict[str, Path] = {}
    for slot in sorted(manifest["slots"], key=lambda s: s["seed"]):
        if slot["table"] != table or (column is not None and slot["column"] != column) or slot["row"] in found:
            continue
        if not slot.get("samples"):
            continue
        archives = SampleDir(out / slot["samples"]).archives()
        if archives:
            found[slot["row"]] = archives[0]
    return found


def _settings_lines(manifest: dict[str, Any]) -> list[str]:
    p = manifest.get("preset", {})
    net, train, sample = p.get("network", {}), p.get("train", {}), p.get("sample", {})
    ev, g = p.get("evaluation", {}), p.get("guidance", {})
    m1, m2 = manifest.get("milestones", [0, 0])
    pairs = lambda items: ", ".join(f"{a} -> {b}" for a, b in items)  # noqa: E731
    ema = f"{train.get('ema_rates')}" + (" with warm-up min(rate, (1+t)/(10+t))" if train.get("ema_warmup") else " (no warm-up)")
    return [
        f"- Preset `{p.get('name')}`: {p.get('summary', '')}",
        f"- Data: `{manifest.get('dataset')}` at {p.get('resolution')}x{p.get('resolution')}, {p.get('channels')} channel(s); "
        f"class-conditional ablation models: {p.get('class_cond')}.",
        f"- Network mapping (paper -> ours): channels {pairs(net.get('widths', []))}; depth {pairs(net.get('depths', []))}; "
        f"channels per head {pairs(net.get('head_channels', []))}; channel_mult {tuple(net.get('channel_mult', []))}; "
        "attention resolutions mapped by their position above the network's lowest level.",
        f"- Training: batch {train.get('batch_size')}, lr {train.get('lr')} (warm-up {train.get('lr_warmup_steps')} steps), "
        f"EMA {ema}, {train.get('precision')} autocast, AdamW {train.get('optimizer')}; steps: Table 1 "
        f"{milestone_label(int(m1))} / {milestone_label(int(m2))} (the paper's 700K / 1200K), Table 2 "
        f"{p.get('table2_steps')}, Table 3 {p.get('table3_steps')}, guidance models {g.get('steps')}; hybrid loss, "
        "learned variance.",
        f"- Sampling: {sample.get('num_samples')} samples per row, {sample.get('sampler')} `{sample.get('respacing')}` "
        f"({sample.get('precision')}); guidance table {(g.get('sample') or {}).get('num_samples')} samples, "
        f"{(g.get('sample') or {}).get('sampler')} `{(g.get('sample') or {}).get('respacing')}`, scales {g.get('scales')}, "
        f"models {'released by the paper' if g.get('source') == 'released' else 'trained here'}.",
        f"- Evaluation: extractor `{ev.get('extractor')}`, bootstrap resamples {ev.get('bootstrap')}, seeds {manifest.get('seeds')}.",
    ]


def render_report(out: str | Path) -> list[Path]:
    """Write `<out>/report/` (tables as .md and .csv, PNG figures, README.md); returns the files written."""
    out = Path(out)
    manifest = read_manifest(out)
    results = collect_results(out, manifest)  # every stored file is read and checked before anything is written
    tables = build_tables(out, manifest, results)
    report = out / REPORT_DIR
    report.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for table in tables:
        for suffix, text in ((".md", to_markdown(table)), (".csv", to_csv(table))):
            path = report / f"{table.name}{suffix}"
            write_text_atomic(path, text)
            written.append(path)

    figures: list[tuple[str, Path | None]] = []
    by_name = {t.name: t for t in tables}
    extractor = str((manifest.get("preset", {}).get("evaluation") or {}).get("extractor", "inception-v3"))
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
    extractor_name = (preset.get("evaluation") or {}).get("extractor")
    if extractor_name != "inception-v3":
        lines += [
            f"> These numbers come from a reduced setting (preset `{preset.get('name')}`) and the `{extractor_name}` "
            "features: they are not comparable to the paper's ImageNet values. What they can show is whether the "
            "paper's effects appear at this scale; the claims section below says which do.",
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
    claims = paper_claims(tuple(guidance_scales(manifest)) if "guidance" in manifest["tables"] else ())
    claims = tuple(c for c in claims if all(x.table in manifest["tables"] for x in c.comparisons))
    if claims:
        lines += [claims_markdown(claims, results, int(manifest.get("evidence_steps", 0)))]
    for table in tables:
        lines += [to_markdown(table)]
    readme = report / "README.md"
    write_text_atomic(readme, "\n".join(lines))
    written.append(readme)
    return written


__all__ = ["MANIFEST_NAME", "REPORT_DIR", "TABLE_NAMES", "read_manifest", "collect_results", "build_tables",
           "render_report"]  # fmt: skip
