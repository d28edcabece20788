"""torchrun with 2 CPU processes (gloo) gives the single-process results: training within float tolerance,
sampling archives identical."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from benchmark.diffusion.respacing import Respacing
from benchmark.diffusion.sampling import Sampler
from runners.config import SampleConfig, run_config_from_dict
from runners.rundir import RunDir
from runners.runlock import exclusive
from runners.sample import sample
from runners.train import train

from tests.runners.conftest import REPO, load_state, tiny_run_dict

pytestmark = pytest.mark.usefixtures("one_thread")


def _torchrun(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(REPO / "cli.py"), *args, "--quiet"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_two_processes_match_one(tiny_npz, tmp_path):
    data = tiny_run_dict(tiny_npz, class_cond=True, milestones=[3], checkpoint_every=3, microbatch=2)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(data))
    config = run_config_from_dict(data)

    # Training: each rank takes a contiguous half of the global batch; DDP averages the gradients.
    proc = _torchrun("train", str(config_path), "--out", str(tmp_path / "two"))
    two = RunDir.for_record(config, tmp_path / "two").path
    assert proc.stdout.strip() == str(two)  # only rank 0 prints
    one = train(config, tmp_path / "one")
    a, b = load_state(one, 3), load_state(two, 3)
    for k in a["model"]:
        torch.testing.assert_close(b["model"][k], a["model"][k], rtol=1e-4, atol=1e-5)
    assert b["world_size"] == 2
    loss_one = [r["loss"] for r in RunDir(one).read_stats()]
    loss_two = [r["loss"] for r in RunDir(two).read_stats()]
    np.testing.assert_allclose(loss_two, loss_one, rtol=1e-4)

    # Sampling the same weights: shards dealt to two processes give the single-process archive exactly.
    copy = tmp_path / "copy" / one.name
    shutil.copytree(one, copy)
    _torchrun("sample", str(copy), "--num-samples", "7", "--batch-size", "2", "--shard-size", "2",
              "--sampler", "ddpm", "--respacing", "4")  # fmt: skip
    single = sample(one, SampleConfig(num_samples=7, batch_size=3, sampler=Sampler.DDPM, respacing=Respacing.parse("4")),
                    shard_size=7)
    double = copy / "samples" / single.parent.name / single.name
    with np.load(single) as s, np.load(double) as d:
        assert np.array_equal(s["arr_0"], d["arr_0"]) and np.array_equal(s["arr_1"], d["arr_1"])


def test_a_refusal_by_rank_0_reaches_every_rank(tiny_npz, tmp_path):
    """A locked sample directory is refused on both ranks with the same line (rank 1 does not wait at a barrier
    for a rank 0 that has left); no shard is written."""
    data = tiny_run_dict(tiny_npz, class_cond=True, milestones=[2], checkpoint_every=2)
    run = train(run_config_from_dict(data), tmp_path / "runs")
    tag = "step0000002-model-ddim-ddim2-eta0-g0-seed0-n4"
    with exclusive(run / "samples" / f"{tag}.lock", run, "a test"):
        proc = _torchrun("sample", str(run), "--num-samples", "4", "--sampler", "ddim", "--respacing", "ddim2",
                         "--no-ema", ok=False)  # fmt: skip
    assert proc.returncode != 0
    refusals = [line for line in proc.stderr.splitlines() if line.startswith("error: ") and "is in use by" in line]
    assert len(refusals) == 2 and refusals[0] == refusals[1], proc.stderr[-3000:]
    assert not (run / "samples" / tag).exists()
