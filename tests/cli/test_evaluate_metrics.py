"""`--metrics`: the extra metrics end to end (random test extractor) from `evaluate` on archives and run directories
and from `report compare`: their keys, outputs and refusals."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.spatial.distance import cdist

from benchmark.cli import main
from benchmark.evaluation.demo import gratings, write_archive
from benchmark.extractors.random_cnn import RandomCNNExtractor

ALL_EXTRAS = "fid,sfid,is,pr,kid,density_coverage,fid_per_class,fd_inf"


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    d = tmp_path_factory.mktemp("archives")
    ref = write_archive(d / "ref.npz", gratings(60, 24, seed=1), np.arange(60) % 3)
    sample = write_archive(d / "sample.npz", gratings(40, 24, seed=2, contrast=0.7, noise=20), np.arange(40) % 3)
    unlabelled = write_archive(d / "unlabelled.npz", gratings(40, 24, seed=3))
    return ref, sample, unlabelled


def invoke(args, tmp_path):
    return CliRunner().invoke(main, ["evaluate", *[str(a) for a in args], "--extractor", "random-cnn-test",
                                     "--cache-dir", str(tmp_path / "cache"), "--quiet"])


def test_extra_metrics_in_json(archives, tmp_path):
    ref, sample, _ = archives
    base = invoke([ref, sample, "--format", "json"], tmp_path)
    full = invoke([ref, sample, "--format", "json", "--metrics", ALL_EXTRAS, "--kid-subsets", "5",
                   "--kid-subset-size", "500"], tmp_path)
    assert base.exit_code == 0 and full.exit_code == 0, full.output
    base, full = json.loads(base.stdout), json.loads(full.stdout)
    for key in ("inception_score", "fid", "sfid", "precision", "recall"):  # the paper's five are unchanged
        assert full[key] == base[key]
    for key in ("kid", "kid_std", "density", "coverage", "fid_per_class", "fid_per_class_mean", "fd_inf"):
        assert key in full and key not in base, key
    assert full["kid_subset_size"] == 40  # capped at the smaller archive
    assert sorted(full["fid_per_class"]) == ["0", "1", "2"]
    assert full["fid_per_class_counts"]["0"] == {"ref": 20, "sample": 14}
    # density/coverage recomputed from scratch on the extractor's features
    ex = RandomCNNExtractor()
    fr, fs = ex.extract(np.load(ref)["arr_0"]).pool, ex.extract(np.load(sample)["arr_0"]).pool
    radius = np.sort(cdist(fr, fr), axis=1)[:, 5]
    d = cdist(fr, fs)
    assert full["density"] == pytest.approx((d < radius[:, None]).sum() / (5 * len(fs)), abs=1e-9)
    assert full["coverage"] == pytest.approx((d.min(1) < radius).mean(), abs=1e-9)


def test_extra_metrics_in_csv_with_extractor_name(archives, tmp_path):
    ref, sample, _ = archives
    out = invoke([ref, sample, "--format", "csv", "--metrics", "kid,density_coverage", "--kid-subsets", "3"], tmp_path)
    assert out.exit_code == 0, out.output
    rows = {line.split(",")[0]: line.split(",") for line in out.stdout.splitlines()[1:]}
    assert {"kid", "kid_std", "density", "coverage", "fid"} <= set(rows)
    assert rows["kid"][2] == "random-cnn-test"


@pytest.mark.parametrize("metrics, which, problem", [
    ("fid_per_class", "ref", "has no arr_1 labels"),
    ("label_accuracy", None, "label_accuracy needs an extractor"),
    ("kid,nonsense", None, "unknown metric"),
])
def test_refusals_are_one_clear_line(archives, tmp_path, metrics, which, problem):
    ref, sample, unlabelled = archives
    ref_arg = unlabelled if which == "ref" else ref
    out = invoke([ref_arg, sample, "--metrics", metrics], tmp_path)
    assert out.exit_code == 2
    assert problem in out.output
    if which == "ref":
        assert str(unlabelled) in out.output


# ----------------------------------------------------------------------------------------------------------------
# The extras from a run directory's evaluation and from `report compare`.


def _run_dir(tmp_path, sample, name="tiny-0123456789", tag="step0000010-ddim5"):
    """A minimal run directory holding SAMPLE's images (and labels, when it has them) under samples/TAG/."""
    run = tmp_path / "runs" / name
    (run / "samples" / tag).mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"kind": "diffusion"}))
    with np.load(sample) as s:
        labels = s["arr_1"] if "arr_1" in s.files else None
        write_archive(run / "samples" / tag / f"samples_{len(s['arr_0'])}x24x24x3.npz", s["arr_0"], labels)
    return run, run / "metrics" / f"{tag}.json"


def test_run_directory_records_the_extra_metrics(archives, tmp_path):
    ref, sample, _ = archives
    run, metrics = _run_dir(tmp_path, sample)
    extras = ["--metrics", "kid,density_coverage,fid_per_class", "--kid-subsets", "4", "--kid-subset-size", "30"]
    out = invoke([ref, run, "--format", "csv", *extras], tmp_path)
    assert out.exit_code == 0, out.output
    stored = json.loads(metrics.read_text())
    direct = json.loads(invoke([ref, sample, "--format", "json", *extras], tmp_path).stdout)
    for key in ("fid", "recall", "kid", "kid_std", "density", "coverage", "fid_per_class", "fid_per_class_mean"):
        assert stored[key] == direct[key], key
    assert stored["metric_selection"] == {"extra_metrics": ["kid", "density_coverage", "fid_per_class"],
                                          "kid_subsets": 4, "kid_subset_size": 30}  # fmt: skip
    rows = {line.split(",")[0]: line.split(",") for line in out.stdout.splitlines()[1:]}
    assert rows["kid"][2] == "random-cnn-test" and float(rows["density"][1]) == stored["density"]

    # Up to date for the same selection; another selection is evaluated afresh.
    stamp = metrics.stat().st_mtime_ns
    assert invoke([ref, run, *extras], tmp_path).exit_code == 0
    assert metrics.stat().st_mtime_ns == stamp
    assert invoke([ref, run, "--metrics", "kid", "--kid-subsets", "4"], tmp_path).exit_code == 0
    again = json.loads(metrics.read_text())
    assert "kid" in again and "density" not in again and again["metric_selection"]["kid_subsets"] == 4
    assert invoke([ref, run], tmp_path).exit_code == 0
    plain = json.loads(metrics.read_text())
    assert "kid" not in plain and "metric_selection" not in plain and plain["fid"] == stored["fid"]


def test_run_directory_refuses_a_metric_its_archives_cannot_have(archives, tmp_path):
    ref, _, unlabelled = archives
    run, metrics = _run_dir(tmp_path, unlabelled)
    out = invoke([ref, run, "--metrics", "fid_per_class"], tmp_path)
    assert out.exit_code == 2 and "has no arr_1 labels" in out.output and "samples_40x24x24x3.npz" in out.output
    assert not metrics.exists()


def compare(args, tmp_path):
    return CliRunner().invoke(main, ["report", "compare", *[str(a) for a in args], "--extractor", "random-cnn-test"],
                              env={"ADMBENCH_CACHE": str(tmp_path / "cache")})  # fmt: skip


def test_compare_shows_the_extra_metrics_named_with_the_extractor(archives, tmp_path):
    ref, sample, unlabelled = archives
    extras = ["--metrics", "kid,density_coverage", "--kid-subsets", "3", "--kid-subset-size", "25"]
    out = compare([ref, sample, unlabelled, *extras, "--bootstrap", "5", "--out", tmp_path / "out"], tmp_path)
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "compare.csv").read_text(encoding="utf-8"))))
    columns = ("KID (random-cnn-test)", "KID std (random-cnn-test)", "Density (random-cnn-test)",
               "Coverage (random-cnn-test)")  # fmt: skip
    header = next(line for line in out.stdout.splitlines() if line.startswith("| Archive"))
    assert header.endswith("| FID 95% CI | " + " | ".join(columns) + " |")
    for row, archive in zip(rows, (sample, unlabelled)):
        direct = json.loads(invoke([ref, archive, "--format", "json", *extras], tmp_path).stdout)
        for column, key in zip(columns, ("kid", "kid_std", "density", "coverage")):
            assert float(row[column]) == pytest.approx(direct[key], rel=1e-12), column
        assert float(row["FID"]) == pytest.approx(direct["fid"], rel=1e-12)
        assert float(row["FID CI low"]) <= float(row["FID"]) <= float(row["FID CI high"])


def test_compare_refuses_a_metric_before_any_work(archives, tmp_path):
    ref, sample, unlabelled = archives
    out = compare([ref, sample, unlabelled, "--metrics", "fid_per_class", "--out", tmp_path / "out"], tmp_path)
    assert out.exit_code == 2 and "has no arr_1 labels" in out.output and str(unlabelled) in out.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()
