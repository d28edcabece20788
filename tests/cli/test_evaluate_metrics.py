"""`evaluate --metrics`: the extra metrics end to end (random test extractor), their keys, outputs and refusals."""

from __future__ import annotations

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
