"""`admbench inception ...` commands and the end-to-end `evaluate` through both backends."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.extractors.inception import artifacts, load_inception_weights
from benchmark.io.download import RemoteFile
from tests.inception.conftest import smooth_images


def test_fetch_verifies_and_renames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = np.random.default_rng(0).bytes(300_000)
    source = tmp_path / "served.bin"
    source.write_bytes(payload)
    remote = RemoteFile(url=source.as_uri(), filename="weights.bin", size=len(payload),
                        sha256=hashlib.sha256(payload).hexdigest())
    monkeypatch.setitem(artifacts.ARTIFACTS, "tf-graph", remote)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "weights.bin.part").write_bytes(payload[:1000])  # an interrupted earlier download
    result = CliRunner().invoke(main, ["inception", "fetch", "--cache-dir", str(cache)])
    assert result.exit_code == 0, result.output
    assert (cache / "weights.bin").read_bytes() == payload and not (cache / "weights.bin.part").exists()

    # A file that does not match the published checksum never reaches its final name.
    bad = RemoteFile(url=source.as_uri(), filename="other.bin", size=len(payload), sha256="0" * 64)
    monkeypatch.setitem(artifacts.ARTIFACTS, "tf-graph", bad)
    monkeypatch.setenv(artifacts.CACHE_ENV, str(cache))
    result = CliRunner().invoke(main, ["inception", "fetch"])
    assert result.exit_code == 2 and "sha256" in result.output
    assert not (cache / "other.bin").exists()


def test_convert_and_info(test_graph: Path, graph_weights: dict, tmp_path: Path) -> None:
    import torch

    out = tmp_path / "inception.safetensors"
    result = CliRunner().invoke(main, ["inception", "convert", str(test_graph), str(out)])
    assert result.exit_code == 0, result.output
    sd, source = load_inception_weights(out)
    assert all(torch.equal(sd[k], v) for k, v in graph_weights.items())
    assert source.source_sha256 == hashlib.sha256(test_graph.read_bytes()).hexdigest()
    result = CliRunner().invoke(main, ["inception", "info", str(out)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["format"] == "admbench-safetensors" and info["source_format"] == "tf-graphdef"
    assert info["reference"] is False and info["synthetic_seed"] == 7
    result = CliRunner().invoke(main, ["inception", "convert", str(tmp_path / "absent.pb"), str(out)])
    assert result.exit_code == 2 and "not found" in result.output
    result = CliRunner().invoke(main, ["inception", "convert", str(test_graph), str(tmp_path / "inception.pt")])
    assert result.exit_code == 2 and ".safetensors" in result.output and not (tmp_path / "inception.pt").exists()


def _evaluate(ref: Path, sample: Path, graph: Path, backend: str, cache: Path) -> dict:
    result = CliRunner().invoke(main, [
        "evaluate", str(ref), str(sample), "--extractor", "inception-v3", "--backend", backend,
        "--inception", str(graph), "--format", "json", "--quiet", "--no-cache", "--cache-dir", str(cache),
        "--batch-size", "12",
    ])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.tf
def test_evaluate_torch_matches_tf(test_graph: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    ref = smooth_images(rng, 24, 48)
    near = np.clip(ref[:12].astype(int) + rng.integers(-20, 20, ref[:12].shape), 0, 255).astype(np.uint8)
    sample = np.concatenate([smooth_images(rng, 12, 48), near])
    np.savez(tmp_path / "ref.npz", arr_0=ref)
    np.savez(tmp_path / "sample.npz", arr_0=sample)
    ours = _evaluate(tmp_path / "ref.npz", tmp_path / "sample.npz", test_graph, "torch", tmp_path)
    tf = _evaluate(tmp_path / "ref.npz", tmp_path / "sample.npz", test_graph, "tf", tmp_path)
    assert ours["extractor"]["backend"] == "torch" and tf["extractor"]["backend"] == "tf"
    for key in ("inception_score", "fid", "sfid"):
        assert ours[key] == pytest.approx(tf[key], rel=1e-3), key
    for key in ("precision", "recall"):
        assert abs(ours[key] - tf[key]) <= 2e-3, key
    assert tf["fid"] > 1.0 and tf["inception_score"] > 1.0  # non-degenerate
