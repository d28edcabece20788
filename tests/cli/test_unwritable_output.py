"""Output directories that cannot be written (under a regular file, under /sys) are refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.compat.guided_diffusion import script_util
from tests.runners.conftest import tiny_run_dict

SYS = Path("/sys/admbench-unwritable")  # sysfs refuses new entries, even to root


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    np.savez(d / "tiny.npz", rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8), np.arange(16) % 4)
    config = d / "tiny.json"
    config.write_text(json.dumps(tiny_run_dict(d / "tiny.npz", milestones=[1])))
    torch.manual_seed(0)
    model = script_util.create_model(8, 32, 1, channel_mult="1,2", learn_sigma=True, attention_resolutions="4",
                                   num_heads=1, use_scale_shift_norm=True)  # fmt: skip
    torch.save(model.state_dict(), d / "released.pt")
    regular = d / "a-file"
    regular.write_text("not a directory\n")
    return {"config": config, "checkpoint": d / "released.pt", "file": regular}


GD_FLAGS = ("--image_size 8 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 --attention_resolutions 4 "
            "--learn_sigma True --class_cond False --num_heads 1")  # fmt: skip


def _args(command: str, inputs: dict[str, Path], target: Path) -> list[str]:
    if command == "demo":
        return ["demo", "--out", str(target), "--no-cache"]
    if command == "train":
        return ["train", str(inputs["config"]), "--out", str(target)]
    if command == "train --run-dir":
        return ["train", str(inputs["config"]), "--run-dir", str(target / "run")]
    if command == "sample --gd-checkpoint":
        return ["sample", "--gd-checkpoint", str(inputs["checkpoint"]), "--gd-flags", GD_FLAGS, "--out", str(target),
                "--num-samples", "1", "--sampler", "ddim", "--respacing", "ddim2"]  # fmt: skip
    assert command == "reproduce"
    return ["reproduce", "--preset", "smoke", "--tables", "1", "--out", str(target), "--device", "cpu"]


@pytest.mark.parametrize("where", ["under a file", "under /sys"])
@pytest.mark.parametrize("command", ["demo", "train", "train --run-dir", "sample --gd-checkpoint", "reproduce"])
def test_unwritable_output_is_one_line_exit_2(inputs, tmp_path, monkeypatch, command, where):
    monkeypatch.chdir(tmp_path)
    target = inputs["file"] / "sub" if where == "under a file" else SYS / "sub"
    result = CliRunner().invoke(main, [*_args(command, inputs, target), "--quiet"])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    blocker = str(inputs["file"]) if where == "under a file" else "/sys"
    assert "not a directory" in lines[0] or "cannot write" in lines[0], lines[0]
    assert blocker in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == [] and inputs["file"].read_text() == "not a directory\n"
    assert not SYS.exists()


def test_writable_output_check_creates_nothing(tmp_path):
    from benchmark.io.outputs import check_writable_dir

    check_writable_dir(tmp_path / "new" / "deeper", "--out")
    check_writable_dir(tmp_path, "--out")
    assert list(tmp_path.iterdir()) == []
