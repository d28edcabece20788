"""Reports are rendered from stored files only: a manifest and metrics JSON written here by hand (independent of
the runners), checked against straightforward recomputations of the differences and intervals."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from benchmark.cli import main
from benchmark.errors import InputError
from benchmark.paper import TABLE1, TABLE2, TABLE3, guidance_key
from reports.render import read_manifest, render_report

Z = 1.959963984540054


def _metrics(fid: float, ci: tuple[float, float] | None, run: str, extra: dict | None = None) -> dict:
    data = {
        "fid": fid, "sfid": fid / 2, "inception_score": 3.0 + fid / 10, "precision": 0.5, "recall": 0.25,
        "extractor": {"name": "fake-extractor", "weights_sha256": "ab" * 32, "reference_inception": False},
        "sample": {"num_images": 500, "path": "x.npz"},
        "sample_config": {"sampler": "ddim", "respacing": "ddim10", "eta": 0.0, "guidance_scale": 0.0},
        "run": {"hash": run, "dir": "runs/" + run},
    }  # fmt: skip
    if ci is not None:
        data["fid_ci95"] = list(ci)
    data.update(extra or {})
    return data


def _write_reproduction(out: Path, cells: dict[tuple[str, str, str, int], dict], tables: list[str], seeds: int,
                        scales: list[float], missing: list[tuple[str, str, str, int]] = ()) -> None:  # fmt: skip
    slots = []
    for (table, row, column, seed), metrics in cells.items():
        rel = f"runs/{table}-{row}-{seed}/metrics/{column}.json"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(json.dumps(metrics), encoding="utf-8")
        slots.append({"table": table, "row": row, "column": column, "seed": seed, "metrics": rel, "samples": None})
    for table, row, column, seed in missing:
        slots.append({"table": table, "row": row, "column": column, "seed": seed,
                      "metrics": f"runs/never/{row}.json", "samples": None})  # fmt: skip
    manifest = {"format": 1, "tables": tables, "seeds": seeds, "milestones": [60, 100], "dataset": "fashion-mnist",
                "preset": {"name": "test", "summary": "hand-written", "guidance": {"scales": scales},
                           "evaluation": {"extractor": "fake"}},
                "slots": slots}  # fmt: skip
    (out / "reproduce.json").write_text(json.dumps(manifest), encoding="utf-8")


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _md_rows(path: Path) -> list[list[str]]:
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("|")][2:]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows]


# ----------------------------------------------------------------------------------------------------------------


def test_table1_differences_and_intervals_from_the_stored_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    cells = {}
    truth = {}
    for row in TABLE1:
        for column in ("m1", "m2"):
            fid = float(rng.uniform(20, 40))
            half = float(rng.uniform(0.5, 2.0))
            cells[("1", row.key, column, 0)] = _metrics(fid, (fid - half, fid + 1.3 * half), row.key)
            truth[(row.key, column)] = (fid, fid - half, fid + 1.3 * half)
    _write_reproduction(tmp_path, cells, ["1"], 1, [])
    render_report(tmp_path)
    rows = _csv(tmp_path / "report" / "table1.csv")
    assert [r["row"] for r in rows] == [r.key for r in TABLE1]
    for r in rows:
        for column, label in (("m1", "60"), ("m2", "100")):
            fid, lo, hi = truth[(r["row"], column)]
            base, blo, bhi = truth[(TABLE1[0].key, column)]
            assert float(r[f"FID {label} absolute"]) == pytest.approx(fid)
            if r["row"] == TABLE1[0].key:
                assert float(r[f"FID {label}"]) == pytest.approx(fid)
                assert (float(r[f"FID {label} CI low"]), float(r[f"FID {label} CI high"])) == pytest.approx((lo, hi))
            else:
                se = math.hypot((hi - lo) / (2 * Z), (bhi - blo) / (2 * Z))
                d = fid - base
                assert float(r[f"FID {label}"]) == pytest.approx(d)
                assert float(r[f"FID {label} CI low"]) == pytest.approx(d - Z * se)
                assert float(r[f"FID {label} CI high"]) == pytest.approx(d + Z * se)
    md = _md_rows(tmp_path / "report" / "table1.md")
    base = truth[(TABLE1[0].key, "m1")][0]
    assert md[0][6] == f"{base:.2f}"
    assert md[1][6].rstrip("*") == f"{truth[(TABLE1[1].key, 'm1')][0] - base:+.2f}"
    assert md[0][8] == "15.33" and md[5][8] == "+0.16"


def test_seeds_give_a_t_interval_and_missing_cells_are_pending(tmp_path: Path) -> None:
    values = [14.0, 15.5, 13.1]
    cells = {("3", "adagn", "fid", s): _metrics(v, (v - 1, v + 1), f"run{s}") for s, v in enumerate(values)}
    _write_reproduction(tmp_path, cells, ["3"], 3, [], missing=[("3", "addition-groupnorm", "fid", 0)])
    render_report(tmp_path)
    rows = {r["row"]: r for r in _csv(tmp_path / "report" / "table3.csv")}
    lo, hi = stats.t.interval(0.95, df=len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert float(rows["adagn"]["FID"]) == pytest.approx(np.mean(values))
    assert (float(rows["adagn"]["FID CI low"]), float(rows["adagn"]["FID CI high"])) == pytest.approx((lo, hi))
    assert rows["adagn"]["Seeds"] == "3" and rows["adagn"]["Runs"] == "run0 run1 run2"
    assert rows["addition-groupnorm"]["FID"] == ""
    md = _md_rows(tmp_path / "report" / "table3.md")
    assert md[1] == ["Addition + GroupNorm", "pending", "", "", "", "15.08", "+2.02"]
    text = (tmp_path / "report" / "table3.md").read_text(encoding="utf-8")
    assert "1 cell(s) are pending" in text and "proxy feature extractor" in text


def test_table2_rows_relative_to_one_head(tmp_path: Path) -> None:
    cells = {("2", row.key, "fid", 0): _metrics(20.0 + i, None, row.key) for i, row in enumerate(TABLE2)}
    _write_reproduction(tmp_path, cells, ["2"], 1, [])
    render_report(tmp_path)
    rows = _csv(tmp_path / "report" / "table2.csv")
    assert [float(r["FID"]) for r in rows] == pytest.approx([20.0, 1, 2, 3, 4, 5, 6])
    assert all(r["FID CI low"] == "" for r in rows)  # no bootstrap stored: no interval invented


def test_render_is_a_pure_function_of_the_stored_files(tmp_path: Path) -> None:
    cells = {}
    for cond in (False, True):
        for scale in (None, 1.0, 10.0):
            key = guidance_key(cond, scale)
            fid = 10 + (scale or 0) + (0 if cond else 5)
            cells[("guidance", key, "all", 0)] = _metrics(fid, (fid - 1, fid + 1), key, {"precision": 0.5 + (scale or 0) / 40})
    for row in TABLE3:
        cells[("3", row.key, "fid", 0)] = _metrics(12.0, (11.0, 13.0), row.key)
    _write_reproduction(tmp_path, cells, ["3", "guidance"], 1, [1.0, 10.0])
    first = render_report(tmp_path)
    names = sorted(p.name for p in first)
    assert names == sorted(["table3.md", "table3.csv", "guidance.md", "guidance.csv", "guidance_scale.png",
                            "precision_recall.png", "README.md"])  # fmt: skip
    saved = {p.name: p.read_bytes() for p in first if p.suffix in (".md", ".csv")}
    shutil.rmtree(tmp_path / "report")
    again = render_report(tmp_path)
    assert {p.name: p.read_bytes() for p in again if p.suffix in (".md", ".csv")} == saved
    for png in ("guidance_scale.png", "precision_recall.png"):
        assert (tmp_path / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    readme = (tmp_path / "report" / "README.md").read_text(encoding="utf-8")
    assert "(table3.md)" in readme and "(guidance.csv)" in readme and "(guidance_scale.png)" in readme
    # Changing a stored metrics file changes the report: values are read, never cached or recomputed.
    slot = next(s for s in read_manifest(tmp_path)["slots"] if s["row"] == "adagn")
    data = json.loads((tmp_path / slot["metrics"]).read_text())
    data["fid"] = 99.5
    (tmp_path / slot["metrics"]).write_text(json.dumps(data))
    render_report(tmp_path)
    assert _md_rows(tmp_path / "report" / "table3.md")[0][1] == "99.50"
    guidance_rows = _md_rows(tmp_path / "report" / "guidance.md")
    assert guidance_rows[0][:4] == ["✗", "✗", "–", "15.00"]
    assert [c.rstrip("*") for c in guidance_rows[5][:4]] == ["✓", "✓", "10.0", "20.00"]


def test_report_cli(tmp_path: Path) -> None:
    cells = {("3", row.key, "fid", 0): _metrics(12.0, None, row.key) for row in TABLE3}
    _write_reproduction(tmp_path, cells, ["3"], 1, [])
    runner = CliRunner()
    result = runner.invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "table3.md").is_file()
    result = runner.invoke(main, ["report", "render", str(tmp_path)])
    assert result.exit_code == 0, result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(main, ["report", str(empty)])
    assert result.exit_code == 2 and "reproduce.json" in result.output


def test_missing_manifest_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        render_report(tmp_path)


def test_rows_trained_too_short_are_named_in_the_table_notes() -> None:
    from reports.tables import guidance

    results = {}
    for cond in (False, True):
        for scale in (None, 10.0):
            steps = 450 if cond else 150
            results[("guidance", guidance_key(cond, scale), "all")] = [_metrics(30.0, (29.0, 31.0), "r", {"milestone": steps})]
    notes = " ".join(guidance(results, (10.0,), 1, evidence_steps=300).notes)
    assert "Too short to mean anything: rows `uncond-noguidance`, `uncond-g10` trained 150 steps" in notes
    assert "`cond-" not in notes.split("Too short")[1]
    assert "Too short" not in " ".join(guidance(results, (10.0,), 1, evidence_steps=100).notes)
    every = " ".join(guidance(results, (10.0,), 1, evidence_steps=1000).notes)
    assert "every row trained 150/450 steps, fewer than the 1000" in every


def test_sample_grids_find_archives_by_the_run_directory_layout(tmp_path: Path, monkeypatch) -> None:
    # The archive naming is runners.rundir's; a renamed layout must be followed, not re-spelled here.
    from reports import render
    from runners import rundir

    monkeypatch.setattr(rundir, "ARCHIVE_GLOB", "images_*.npz")
    for seed in (1, 0):
        folder = tmp_path / f"runs/r{seed}/samples/t"
        folder.mkdir(parents=True)
        (folder / "images_4x8x8x1.npz").write_bytes(b"")
        (folder / "samples_4x8x8x1.npz").write_bytes(b"")
    slots = [{"table": "1", "row": "base", "column": "c", "seed": seed, "samples": f"runs/r{seed}/samples/t"}
             for seed in (1, 0)]
    found = render._archives(tmp_path, {"slots": slots}, "1", None)
    assert found == {"base": tmp_path / "runs/r0/samples/t/images_4x8x8x1.npz"}
