"""`torchrun --nproc_per_node=2 cli.py evaluate` (gloo, CPU) gives the single-process numbers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.evaluation.demo import gratings, write_archive

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    ref = write_archive(tmp_path / "ref.npz", gratings(61, 20, seed=3))
    sample = write_archive(tmp_path / "sample.npz", gratings(47, 28, seed=4, contrast=0.6))
    common = ["evaluate", str(ref), str(sample), "--extractor", "random-cnn-test", "--format", "json", "--quiet",
              "--batch-size", "5", "--no-cache"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, "cli.py", *common, "--output", str(tmp_path / "one.json")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    multi = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517", "cli.py", *common,
         "--output", str(tmp_path / "two.json")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert multi.returncode == 0, multi.stderr[-3000:]
    one = json.loads((tmp_path / "one.json").read_text())
    two = json.loads((tmp_path / "two.json").read_text())
    for key in ("inception_score", "fid", "sfid", "precision", "recall"):
        assert two[key] == pytest.approx(one[key], rel=1e-9, abs=1e-12), key
