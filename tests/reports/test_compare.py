"""`admbench report compare`: third-party archives evaluated into one table of the guidance table's metric layout."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.evaluation.evaluate import evaluate
from benchmark.evaluation.settings import EvalSettings
from benchmark.extractors.base import ExtractorOptions
from benchmark.extractors.registry import build_extractor
from reports.compare import COMPARE_COLUMNS, comparison_table
from reports.tables import to_csv, to_markdown


def _archive(path: Path, seed: int, n: int = 24) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, arr_0=rng.integers(0, 256, size=(n, 16, 16, 3), dtype=np.uint8))
    return path


def test_comparison_table_layout() -> None:
    results = [
        {"fid": 3.0, "sfid": 4.0, "inception_score": 5.0, "precision": 0.7, "recall": 0.6, "fid_ci95": [2.5, 3.5],
         "extractor": {"name": "x", "reference_inception": True}, "sample": {"num_images": 10}, "reference": {}},
        {"fid": 6.0, "sfid": 1.0, "inception_score": 2.0, "precision": 0.1, "recall": 0.2,
         "extractor": {"name": "x", "reference_inception": True}, "sample": {"num_images": 10}, "reference": {}},
    ]  # fmt: skip
    table = comparison_table(results, ["a.npz", "b.npz"])
    lines = [line for line in to_markdown(table).splitlines() if line.startswith("|")]
    assert lines[0] == "| " + " | ".join(COMPARE_COLUMNS) + " |"
    assert lines[0] == "| Archive | FID | sFID | IS | Precision | Recall | FID 95% CI |"
    assert lines[2] == "| a.npz | 3.00 | 4.00 | 5.00 | 0.70 | 0.60 | [2.50, 3.50] |"
    assert lines[3] == "| b.npz | 6.00 | 1.00 | 2.00 | 0.10 | 0.20 |  |"


def test_comparison_table_appends_the_requested_extras() -> None:
    names = {"kid": "KID (x)", "kid_std": "KID std (x)", "fid_per_class_mean": "Per-class FID (mean) (x)"}
    base = {"fid": 3.0, "sfid": 4.0, "inception_score": 5.0, "precision": 0.7, "recall": 0.6, "metric_names": names,
            "extractor": {"name": "x", "reference_inception": False}, "sample": {"num_images": 10}, "reference": {}}
    results = [
        {**base, "kid": 0.012345, "kid_std": 0.002, "fid_per_class_mean": 41.25,
         "extra_metric_keys": ["kid", "kid_std", "fid_per_class_mean"]},
        {**base, "kid": 0.5, "kid_std": 0.25, "fid_per_class_mean": None,
         "extra_metric_keys": ["kid", "kid_std", "fid_per_class_mean"]},
    ]  # fmt: skip
    table = comparison_table(results, ["a.npz", "b.npz"])
    lines = [line for line in to_markdown(table).splitlines() if line.startswith("|")]
    assert lines[0] == ("| Archive | FID | sFID | IS | Precision | Recall | FID 95% CI | KID (x) | KID std (x) | "
                        "Per-class FID (mean) (x) |")  # fmt: skip
    assert lines[2] == "| a.npz | 3.00 | 4.00 | 5.00 | 0.70 | 0.60 |  | 0.01235 | 0.002 | 41.25 |"
    assert lines[3] == "| b.npz | 3.00 | 4.00 | 5.00 | 0.70 | 0.60 |  | 0.5 | 0.25 |  |"
    rows = list(csv.DictReader(io.StringIO(to_csv(table))))
    assert float(rows[0]["KID (x)"]) == 0.012345 and rows[1]["Per-class FID (mean) (x)"] == ""


def test_compare_cli_matches_the_evaluator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMBENCH_CACHE", str(tmp_path / "cache"))
    ref = _archive(tmp_path / "ref.npz", 0)
    a, b = _archive(tmp_path / "a.npz", 1), _archive(tmp_path / "b.npz", 2)
    result = CliRunner().invoke(main, ["report", "compare", str(ref), str(a), str(b), "--extractor", "random-cnn-test",
                                       "--bootstrap", "5", "--out", str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "compare.csv").read_text(encoding="utf-8"))))
    assert [r["Archive"] for r in rows] == ["a.npz", "b.npz"]
    extractor = build_extractor("random-cnn-test", ExtractorOptions(cache_dir=tmp_path / "cache2"))
    for row, archive in zip(rows, (a, b)):
        direct = evaluate(ref, archive, extractor, EvalSettings()).to_dict()
        assert float(row["FID"]) == pytest.approx(direct["fid"], rel=1e-9)
        assert float(row["Recall"]) == pytest.approx(direct["recall"])
        assert float(row["FID CI low"]) <= float(row["FID CI high"])
