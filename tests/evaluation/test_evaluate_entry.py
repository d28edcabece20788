"""`evaluate`, the one entry point: a typed EvalResult whose JSON form carries the same numbers and provenance."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from benchmark.evaluation.bootstrap import BootstrapSettings
from benchmark.evaluation.demo import gratings, write_archive
from benchmark.evaluation.evaluate import evaluate
from benchmark.evaluation.formatting import render
from benchmark.evaluation.result import EvalResult
from benchmark.evaluation.selection import MetricSelection
from benchmark.evaluation.settings import EvalSettings
from benchmark.extractors.random_cnn import RandomCNNExtractor


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    ref = write_archive(d / "ref.npz", gratings(30, 16, seed=1))
    sample = write_archive(d / "sample.npz", gratings(20, 16, seed=2, contrast=0.6, noise=15))
    return ref, sample


def test_the_typed_result_and_its_json_agree(pair):
    ref, sample = pair
    settings = EvalSettings(batch_size=7)
    result = evaluate(ref, sample, RandomCNNExtractor(), settings)
    assert isinstance(result, EvalResult) and result.settings == settings
    data = json.loads(json.dumps(result.to_dict()))
    assert [data[k] for k in ("inception_score", "fid", "sfid", "precision", "recall")] == [
        result.metrics.inception_score, result.metrics.fid, result.metrics.sfid, result.metrics.precision,
        result.metrics.recall]  # fmt: skip
    for record, path, n in ((result.reference, ref, 30), (result.sample, sample, 20)):
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        assert record.sha256 == sha and record.num_images == n and record.path == path
    assert data["sample"]["sha256"] == result.sample.sha256 and data["reference"]["num_images"] == 30
    assert data["extractor"]["name"] == result.extractor.name == "random-cnn-test"
    assert data["settings"]["batch_size"] == 7
    assert result.label_accuracy is None and result.bootstrap is None and "label_accuracy" not in data


def test_bootstrap_and_extras_together_keep_both(pair):
    ref, sample = pair
    selection = MetricSelection(("kid",), kid_subsets=3, kid_subset_size=10)
    both = evaluate(ref, sample, RandomCNNExtractor(), EvalSettings(), bootstrap=BootstrapSettings(6),
                    selection=selection).to_dict()  # fmt: skip
    extras_only = evaluate(ref, sample, RandomCNNExtractor(), EvalSettings(), selection=selection).to_dict()
    assert both["kid"] == extras_only["kid"] and both["fid"] == extras_only["fid"]
    assert both["metric_selection"] == extras_only["metric_selection"]
    assert both["extra_metric_keys"] == ["kid", "kid_std"] and both["bootstrap"]["resamples"] == 6
    rows = [line.split(",")[0] for line in render(both, "csv").splitlines()[1:]]
    assert rows[-2:] == ["kid", "kid_std"]
