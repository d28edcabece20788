"""`admbench inception verify`: the backend parity check passes on matching weights and fails on altered ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.extractors.inception.verify import probe_images, relative_error


def test_relative_error_definition() -> None:
    ref = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    ours = np.array([[3.0, 4.0], [0.0, 0.05]], np.float32)
    assert relative_error(ours, ref) == pytest.approx(0.05 / 5.0, rel=1e-6)  # ||d|| = 0.05, ||ref|| = 5
    assert relative_error(ref, ref) == 0.0
    assert relative_error(ref, np.zeros_like(ref)) == float("inf")  # a dead reference can never pass


def test_probe_images_are_seeded_and_structured() -> None:
    a, b = probe_images(64, 3, seed=1), probe_images(64, 3, seed=1)
    assert a.shape == (3, 64, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, probe_images(64, 3, seed=2))
    assert not np.array_equal(a, probe_images(65, 3, seed=1)[:, :64, :64])
    assert a.std() > 20 and len(np.unique(a)) > 100  # neither flat nor binary


@pytest.mark.tf
def test_verify_passes_on_the_graph_itself(test_graph: Path) -> None:
    pytest.importorskip("tensorflow")
    args = ["inception", "verify", str(test_graph), "--sizes", "32,299,400", "--count", "2", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["passed"] and [r["size"] for r in report["rows"]] == [32, 299, 400]
    assert 0 < report["max_relative_error"] < 1e-4
    assert report["torch"]["weights_sha256"] == report["reference"]["weights_sha256"]
    assert report["reference"]["against"] == "tf" and report["reference"]["label"].startswith("TensorFlow")


@pytest.mark.tf
def test_verify_fails_on_altered_weights(test_graph: Path, graph_weights: dict, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    altered = {k: v.clone().contiguous() for k, v in graph_weights.items()}
    altered["Mixed_6b.branch1x1.bn.weight"] = altered["Mixed_6b.branch1x1.bn.weight"] * 1.01  # one BN gamma, +1%
    path = tmp_path / "altered.pth"  # a pytorch-fid style state dict
    torch.save(altered, path)
    args = ["inception", "verify", str(test_graph), "--torch-weights", str(path), "--sizes", "64", "--count", "2"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output and "above tolerance" in result.output


@pytest.mark.tf
def test_verify_refuses_a_state_dict_as_graph(graph_weights: dict, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    path = tmp_path / "weights.pth"
    torch.save(graph_weights, path)
    result = CliRunner().invoke(main, ["inception", "verify", str(path), "--sizes", "32", "--count", "1"])
    assert result.exit_code == 2 and "needs a .pb file" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_verify_against_the_cpu_port_needs_no_tensorflow(test_graph: Path, graph_weights: dict,
                                                         tmp_path: Path) -> None:
    args = ["inception", "verify", str(test_graph), "--against", "torch-cpu", "--sizes", "48", "--count", "2",
            "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["reference"]["label"].startswith("torch") and report["max_relative_error"] < 1e-6
    altered = {k: v.clone() for k, v in graph_weights.items()}
    altered["fc.weight"] = altered["fc.weight"] * 1.001  # logits move by 1e-3, pool and spatial do not
    path = tmp_path / "altered.pth"
    torch.save(altered, path)
    result = CliRunner().invoke(main, [*args, "--torch-weights", str(path)])
    assert result.exit_code == 1
    report = json.loads(result.output[result.output.index("{"):])
    row = report["rows"][0]
    assert row["logits"] == pytest.approx(1e-3, rel=1e-2) and row["pool"] < 1e-6
