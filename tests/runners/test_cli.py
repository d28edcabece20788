"""`admbench train`, `train-classifier` and `sample` through the click group."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from benchmark.cli import main
from runners.config import load_run_config
from runners.rundir import RunDir
from runners.train import train

from tests.runners.conftest import SMOKE, tiny_classifier_dict, tiny_run_dict

pytestmark = pytest.mark.usefixtures("one_thread")


def _invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_train_then_sample_from_the_command_line(tiny_npz, tmp_path):
    config_path = tmp_path / "tiny.json"
    config_path.write_text(json.dumps(tiny_run_dict(tiny_npz, milestones=[2])))
    expected = RunDir.for_record(load_run_config(config_path), tmp_path / "out").path

    dry = _invoke("train", config_path, "--out", tmp_path / "out", "--dry-run")
    assert dry.exit_code == 0 and json.loads(dry.output)["run_dir"] == str(expected)
    assert not expected.exists()

    result = _invoke("train", config_path, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(expected)
    assert [r["step"] for r in RunDir(expected).read_stats()] == [1, 2]
    assert _invoke("train", config_path, "--out", tmp_path / "out", "--quiet").output.strip() == str(expected)

    result = _invoke("sample", expected, "--num-samples", 3, "--batch-size", 2, "--sampler", "ddim",
                     "--respacing", "ddim5", "--no-ema", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    archive = Path(result.output.strip())
    assert archive.parent.name == "step0000002-model-ddim-ddim5-eta0-g0-seed0-n3"
    with np.load(archive) as f:
        assert f["arr_0"].shape == (3, 8, 8, 3) and f["arr_0"].dtype == np.uint8


def test_user_mistakes_exit_2_with_one_line(tiny_npz, tmp_path):
    config_path = tmp_path / "tiny.json"
    config_path.write_text(json.dumps(tiny_run_dict(tiny_npz, milestones=[1])))
    other_path = tmp_path / "other.json"
    other_path.write_text(json.dumps(tiny_run_dict(tiny_npz, milestones=[1], lr=5e-4)))
    run = tmp_path / "myrun"
    assert _invoke("train", config_path, "--run-dir", run, "--quiet").exit_code == 0
    result = _invoke("train", other_path, "--run-dir", run, "--quiet")
    assert result.exit_code == 2 and "differing keys: train.lr" in result.output

    result = _invoke("train-classifier", config_path, "--out", tmp_path)
    assert result.exit_code == 2 and "admbench train" in result.output
    clf_path = tmp_path / "clf.json"
    clf_path.write_text(json.dumps(tiny_classifier_dict(tiny_npz)))
    assert _invoke("train", clf_path, "--out", tmp_path).exit_code == 2

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**tiny_run_dict(tiny_npz), "optimizer": "sgd"}))
    result = _invoke("train", bad, "--out", tmp_path)
    assert result.exit_code == 2 and "'optimizer'" in result.output and len(result.output.strip().splitlines()) == 1

    result = _invoke("sample", run, "--milestone", 9, "--num-samples", 1)
    assert result.exit_code == 2 and "available steps: [1]" in result.output
    result = _invoke("sample", tmp_path / "missing-run", "--num-samples", 1)
    assert result.exit_code == 2 and "not a run directory" in result.output


def test_smoke_config_trains_on_fashion_mnist(tmp_path):
    from benchmark.data.fashion_mnist import load_split

    load_split("train", allow_download=False)  # fails, naming the missing files, where the data is absent
    config = load_run_config(SMOKE)
    run_dir = train(config, tmp_path, stop_after=1)
    rows = RunDir(run_dir).read_stats()
    assert rows[0]["step"] == 1 and np.isfinite(rows[0]["loss"])
    state = torch.load(run_dir / "checkpoints" / "state-0000001.pt", weights_only=True)
    assert json.loads(state["config"]) == config.to_dict()


def test_preset_baseline_row_dry_run(tmp_path):
    from runners import presets

    result = _invoke("train", "--preset", "smoke", "--out", tmp_path, "--dry-run")
    assert result.exit_code == 0, result.output
    preset = presets.get_preset("smoke")
    # Fashion-MNIST has ten classes; the smoke preset's ablation rows are class-conditional.
    expected = presets.run_config(preset, presets.ArchSetting(), preset.dataset, tuple(preset.milestones), 0, 10)
    assert json.loads(result.output)["run_dir"] == str(RunDir.for_record(expected, tmp_path).path)
    assert _invoke("train", "--out", tmp_path).exit_code == 2
