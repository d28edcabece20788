"""Runner inputs: nothing is written for refused inputs, one writer per run directory, a torn final checkpoint
is repaired, respacing errors name where the value came from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.compat.guided_diffusion import script_util
from runners import checkpointing
from runners.config import run_config_from_dict
from runners.plan import TrainStage
from runners.rundir import RunDir
from runners.train import train

from tests.runners.conftest import REPO, assert_same_tensors, load_state, tiny_run_dict

pytestmark = pytest.mark.usefixtures("one_thread")

GD_FLAGS = ("--image_size 8 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 --attention_resolutions 4 "
            "--learn_sigma True --class_cond False --num_heads 1")  # fmt: skip


def _invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_exit_2(result) -> str:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def _tiny_dict(dataset: Path, **train_overrides) -> dict:
    data = tiny_run_dict(dataset, milestones=[2], checkpoint_every=1, **train_overrides)
    data["diffusion"]["steps"] = 100
    return data


@pytest.fixture(scope="module")
def trained(tiny_npz, tmp_path_factory) -> Path:
    """A finished 2-step run of a 100-step diffusion (the tests copy it before changing it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(run_config_from_dict(_tiny_dict(tiny_npz)), tmp_path_factory.mktemp("trained"))
    finally:
        torch.set_num_threads(before)


def _copy(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "runs" / run.name
    shutil.copytree(run, target)
    return target


# ---------------------------------------------------------------------------------------------------------------
# Refused inputs leave no run directory.


@pytest.mark.parametrize("dataset", ["missing", "wrong size"])
def test_train_with_a_bad_dataset_creates_no_run_directory(tiny_npz, tmp_path, dataset):
    if dataset == "missing":
        data_path = tmp_path / "absent.npz"
    else:
        data_path = tmp_path / "big.npz"
        np.savez(data_path, np.zeros((4, 16, 16, 3), np.uint8))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(_tiny_dict(data_path)))
    line = _one_line_exit_2(_invoke("train", config, "--out", tmp_path / "out", "--quiet"))
    assert data_path.name in line
    assert not (tmp_path / "out").exists()


@pytest.fixture()
def released(tmp_path) -> Path:
    torch.manual_seed(0)
    model = script_util.create_model(8, 32, 1, channel_mult="1,2", learn_sigma=True, attention_resolutions="4",
                                   num_heads=1, use_scale_shift_norm=True)  # fmt: skip
    path = tmp_path / "released.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.parametrize("problem", ["other network", "not a checkpoint", "bad sample option", "bad respacing"])
def test_sample_of_a_refused_released_checkpoint_creates_no_run_directory(released, tmp_path, problem):
    flags, extra = GD_FLAGS, ["--num-samples", 1, "--sampler", "ddim", "--respacing", "ddim2"]
    if problem == "other network":
        flags = GD_FLAGS.replace("--num_channels 32", "--num_channels 64")
    elif problem == "not a checkpoint":
        released.write_bytes(b"these are not the weights you are looking for")
    elif problem == "bad sample option":
        extra = ["--num-samples", 1, "--sampler", "ddpm", "--eta", 0.5]
    else:
        extra = ["--num-samples", 1, "--sampler", "ddim", "--respacing", "ddim0"]
    result = _invoke("sample", "--gd-checkpoint", released, "--gd-flags", flags, "--out", tmp_path / "out", "--quiet",
                     *extra)  # fmt: skip
    line = _one_line_exit_2(result)
    if problem in ("other network", "not a checkpoint"):
        assert str(released) in line
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------------------
# One writer per run directory.

_HOLDER = """
import sys
from runners.runlock import exclusive
with exclusive(sys.argv[1], sys.argv[2], sys.argv[3]):
    print("locked", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture()
def holder():
    """Start separate processes, each holding a lock file until it is killed or the test ends."""
    started: list[subprocess.Popen] = []

    def start(lock: Path, owner: Path, activity: str) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(lock), str(owner), activity], cwd=REPO, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
        started.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.communicate("\n", timeout=30)


def test_a_second_sampler_of_the_same_archive_is_refused_naming_the_holder(trained, tmp_path, holder):
    run = _copy(trained, tmp_path)
    args = ["sample", run, "--num-samples", 2, "--sampler", "ddim", "--respacing", "ddim2", "--no-ema", "--quiet"]
    tag = "step0000002-model-ddim-ddim2-eta0-g0-seed0-n2"
    pid = holder(run / "samples" / f"{tag}.lock", run, f"admbench sample {tag}").pid
    line = _one_line_exit_2(_invoke(*args))
    assert line == (f"error: {run}: is in use by PID {pid} (admbench sample {tag}); wait for it to finish or stop it, "
                    "then rerun")  # fmt: skip
    assert not (run / "samples" / tag).exists()
    # Another archive of the same run is not blocked.
    other = _invoke(*args[:-1], "--seed", 1, "--quiet")
    assert other.exit_code == 0, other.output


def test_a_refused_sampler_loads_no_model(trained, tmp_path, holder, monkeypatch):
    import runners.sample

    run = _copy(trained, tmp_path)
    tag = "step0000002-model-ddim-ddim2-eta0-g0-seed0-n2"
    holder(run / "samples" / f"{tag}.lock", run, f"admbench sample {tag}")
    loads = []
    monkeypatch.setattr(runners.sample, "load_run_model", lambda *args: loads.append(args))
    _one_line_exit_2(_invoke("sample", run, "--num-samples", 2, "--sampler", "ddim", "--respacing", "ddim2", "--no-ema",
                             "--quiet"))  # fmt: skip
    assert loads == []  # refused before the weights were read


def test_a_second_trainer_of_a_run_is_refused(trained, tiny_npz, tmp_path, holder):
    run = _copy(trained, tmp_path)
    config = tmp_path / "longer.json"
    data = _tiny_dict(tiny_npz)
    config.write_text(json.dumps(data))
    for path in (run / "checkpoints").glob("*-0000002.*"):
        path.unlink()  # the run is not finished, so a trainer would write into it
    pid = holder(run / "train.lock", run, f"admbench train {run.name}").pid
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    line = _one_line_exit_2(_invoke("train", config, "--run-dir", run, "--quiet"))
    assert f"{run}: is in use by PID {pid} (admbench train {run.name})" in line
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before


def test_the_lock_is_released_when_its_holder_is_killed(trained, tmp_path, holder):
    run = _copy(trained, tmp_path)
    args = ["sample", run, "--num-samples", 2, "--sampler", "ddim", "--respacing", "ddim2", "--no-ema", "--quiet",
            "--shard-size", 1]  # fmt: skip
    tag = "step0000002-model-ddim-ddim2-eta0-g0-seed0-n2"
    proc = holder(run / "samples" / f"{tag}.lock", run, f"admbench sample {tag}")
    assert _invoke(*args).exit_code == 2
    proc.kill()
    proc.wait(timeout=30)
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (run / "samples" / tag).iterdir()) == ["sample.json", "samples_2x8x8x3.npz"]


# ---------------------------------------------------------------------------------------------------------------
# A torn final checkpoint is repaired.


def test_a_truncated_final_checkpoint_is_retrained_before_the_run_counts_as_done(trained, tiny_npz, tmp_path):
    run = _copy(trained, tmp_path)
    config = run_config_from_dict(_tiny_dict(tiny_npz))
    final = RunDir(run).state(2)
    final.write_bytes(final.read_bytes()[: final.stat().st_size // 2])
    stage = TrainStage("train", config, run)
    assert stage.status() != "done"
    assert train(config, tmp_path, run_dir=run) == run
    assert stage.status() == "done"
    reference = load_state(trained, 2)
    repaired = load_state(run, 2)
    assert_same_tensors(repaired["model"], reference["model"])
    assert "resumed from state-0000001.pt" in (run / "log.txt").read_text()
    result = _invoke("sample", run, "--num-samples", 1, "--sampler", "ddim", "--respacing", "ddim2", "--no-ema",
                     "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output


def test_a_truncated_final_ema_file_is_rewritten_from_its_checkpoint(trained, tiny_npz, tmp_path):
    run = _copy(trained, tmp_path)
    config = run_config_from_dict(_tiny_dict(tiny_npz))
    ema = RunDir(run).ema(0.9, 2)
    ema.write_bytes(ema.read_bytes()[:-100])
    assert TrainStage("train", config, run).status() != "done"
    train(config, tmp_path, run_dir=run)
    weights, _ = checkpointing.read_ema(ema)
    assert_same_tensors(weights, checkpointing.read_ema(RunDir(trained).ema(0.9, 2))[0])
    assert "ema-0.9-0000002.safetensors is unreadable" in (run / "log.txt").read_text()


# ---------------------------------------------------------------------------------------------------------------
# Respacing errors name the run and the option or file.


@pytest.mark.parametrize(("respacing", "detail"), [
    ("ddim0", "cannot take exactly 0 DDIM steps of 100"),
    ("1000", "cannot divide a section of 100 steps into 1000"),
])  # fmt: skip
def test_respacing_errors_name_the_option_and_the_run(trained, tmp_path, respacing, detail):
    run = _copy(trained, tmp_path)
    line = _one_line_exit_2(_invoke("sample", run, "--num-samples", 1, "--sampler", "ddim", "--respacing", respacing))
    assert line.startswith(f"error: {run / 'config.json'}: --respacing '{respacing}' does not fit the model's "
                           "100-step diffusion"), line  # fmt: skip
    assert detail in line
    sample_config = tmp_path / "sample.json"
    sample_config.write_text(json.dumps({"respacing": respacing, "sampler": "ddim", "num_samples": 1}))
    line = _one_line_exit_2(_invoke("sample", run, "--config", sample_config))
    assert f"respacing of {sample_config} '{respacing}'" in line and str(run / "config.json") in line
    assert sorted(p.name for p in (run / "samples").iterdir()) == []
