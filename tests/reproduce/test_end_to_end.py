"""A reduced smoke reproduction end to end (Table 3 and the guidance table with a few training steps), and a
reproduction killed with SIGKILL mid-way that, rerun, ends with the same tables."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reports.render import read_manifest, render_report
from runners.plan import EvalStage, TrainStage, plan
from tests.reproduce.tiny import main as run_tiny
from tests.reproduce.tiny import make_reference, tiny_preset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("reproduction")
    out = root / "out"
    summary = run_tiny(out, ("3", "guidance"))
    return out, summary


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_reduced_smoke_reproduction_end_to_end(finished: tuple[Path, dict]) -> None:
    out, summary = finished
    report = out / "report"
    for name in ("table3.md", "table3.csv", "guidance.md", "guidance.csv", "README.md", "guidance_scale.png",
                 "precision_recall.png", "samples_table3.png", "samples_guidance.png"):  # fmt: skip
        assert (report / name).is_file(), name
    t3 = _rows(report / "table3.csv")
    assert [r["row"] for r in t3] == ["adagn", "addition-groupnorm"]
    assert all(float(r["FID"]) > 0 and float(r["FID CI low"]) <= float(r["FID CI high"]) for r in t3)
    assert {r["Samples"] for r in t3} == {"16"} and {r["Extractor"] for r in t3} == {"random-cnn-test"}
    g = _rows(report / "guidance.csv")
    assert len(g) == 6 and all(r["FID"] and r["IS"] and r["Precision"] for r in g)
    # The conditional model without guidance is Table 3's AdaGN run: the same metrics file fills both cells.
    assert g[3]["FID"] == t3[0]["FID"] and g[3]["Runs"] == t3[0]["Runs"]
    p = plan(tiny_preset(make_reference(out.parent / "reference-8x8.npz")), ("3", "guidance"), 1, out)
    assert all(s.status() == "done" for s in p.stages)
    assert len([s for s in p.stages if isinstance(s, TrainStage)]) == 4  # 2 (Table 3) + unconditional + classifier
    assert len(summary["stages_run"]) == len(p.stages) - 1  # everything but the (hand-made) reference batch
    readme = (report / "README.md").read_text(encoding="utf-8")
    # The report warns that a proxy extractor's numbers are not the paper's, and judges the claims it can.
    assert "not comparable to the paper's ImageNet values" in readme and "random-cnn-test" in readme
    assert "## The paper's claims at this scale" in readme
    # A second run finds everything done and only re-renders.
    again = run_tiny(out, ("3", "guidance"))
    assert again["stages_run"] == []
    assert _rows(report / "table3.csv") == t3


def test_killed_reproduction_resumes_to_the_same_tables(finished: tuple[Path, dict], tmp_path: Path) -> None:
    reference_out, _ = finished
    out = tmp_path / "out"
    make_reference(tmp_path / "reference-8x8.npz")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.reproduce.tiny", str(out), "3"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 240
    try:
        while not list(out.glob("runs/*/metrics/*.json")):
            assert proc.poll() is None, "the reproduction ended before it could be killed"
            assert time.monotonic() < deadline, "no metrics file appeared"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    p = plan(tiny_preset(tmp_path / "reference-8x8.npz"), ("3",), 1, out)
    evals = [s for s in p.stages if isinstance(s, EvalStage)]
    assert [e.status() for e in evals] == ["done", "pending"]  # killed mid-way
    first_train = next(s for s in p.stages if isinstance(s, TrainStage))

    summary = run_tiny(out, ("3",))
    assert first_train.key not in summary["stages_run"]  # finished stages are not redone
    assert read_manifest(out)["tables"] == ["3"]
    assert _rows(out / "report" / "table3.csv") == _rows(reference_out / "report" / "table3.csv")
    render_report(out)  # re-rendering gives the same table again
    assert (out / "report" / "table3.md").read_text() == (reference_out / "report" / "table3.md").read_text()
