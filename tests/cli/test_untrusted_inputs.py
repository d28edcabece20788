"""`evaluate`, `report compare` and `reference build` trust nothing on disk: every bad input or output path is one
line naming the file and the problem, exit code 2, nothing written, and no work done before the check."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.evaluation.demo import gratings, write_archive
from benchmark.extractors.random_cnn import RandomCNNExtractor

EXTRACTOR = ["--extractor", "random-cnn-test"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    return write_archive(d / "ref.npz", gratings(40, 16, seed=1)), write_archive(d / "sample.npz", gratings(30, 16, seed=2))


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes (symlinks by their target), to prove nothing was written."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p)] = os.readlink(p).encode()
        elif p.is_file():
            out[str(p)] = p.read_bytes()
        else:
            out[str(p)] = b"<dir>"
    return out


def assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any feature extraction starts."""
    from benchmark.evaluation import evaluate

    def refuse(*args, **kwargs):
        raise AssertionError("features were extracted before the inputs were checked")

    monkeypatch.setattr(evaluate, "extract_features", refuse)


def invoke(args):
    return CliRunner().invoke(main, args)


# ----------------------------------------------------------------------------------------------------------------
# Stored statistics.


def _ref_with_stats(tmp_path, pair, key, make):
    ref, _ = pair
    feats = RandomCNNExtractor().extract(np.load(ref)["arr_0"])
    stats = {"mu": feats.pool.mean(0), "sigma": np.cov(feats.pool, rowvar=False),
             "mu_s": feats.spatial.mean(0), "sigma_s": np.cov(feats.spatial, rowvar=False)}  # fmt: skip
    stats[key] = make(stats[key])
    path = tmp_path / "ref_stats.npz"
    np.savez(path, arr_0=np.load(ref)["arr_0"], **stats)
    return path


def _indefinite(s):
    u = np.full(len(s), 1 / np.sqrt(len(s)))
    return np.trace(s) / len(s) * (np.eye(len(s)) - 2 * np.outer(u, u))


@pytest.mark.parametrize(
    "key,make,message",
    [
        ("sigma", lambda s: -s, "stored sigma is not a covariance"),
        ("sigma", lambda s: s + np.triu(np.full_like(s, 0.1 * np.abs(s).max()), 1), "stored sigma is not symmetric"),
        ("sigma", lambda s: s / np.abs(s).max() * 1e308, "stored sigma has entries up to 1e+308"),
        ("sigma_s", _indefinite, "stored sigma_s is not positive semi-definite"),
        ("sigma_s", lambda s: s.astype(np.float32) * np.float32(-1), "stored sigma_s is not a covariance"),
        ("mu_s", lambda m: np.full(m.shape, 1e300), "stored mu_s has entries up to 1e+300"),
    ],
)
def test_invalid_stored_statistics_are_refused(tmp_path, pair, no_work, key, make, message):
    ref = _ref_with_stats(tmp_path, pair, key, make)
    out = tmp_path / "result.json"
    result = invoke(["evaluate", str(ref), str(pair[1]), *EXTRACTOR, "--output", str(out), "--quiet",
                     "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    assert_one_line_error(result, str(ref), message)
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_identical_archives_give_fid_zero(tmp_path, pair):
    ref, _ = pair
    result = invoke(["evaluate", str(ref), str(ref), *EXTRACTOR, "--format", "json", "--quiet",
                     "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["fid"] == 0.0 and metrics["sfid"] == 0.0
