"""`--device`: every command refuses a device this machine lacks in one line, exit 2, before writing anything."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.device import (Accelerators, DeviceSpec, DeviceType, check_device, device_problem, local_rank, parse_device,
                              rank_device)
from benchmark.errors import InputError
from benchmark.evaluation.demo import gratings, write_archive
from tests.runners.conftest import tiny_run_dict

pytestmark = pytest.mark.usefixtures("one_thread")

NO_CUDA = Accelerators(cuda_count=0, cuda_built=False, mps=False)
TWO_GPUS = Accelerators(cuda_count=2, cuda_built=True, mps=False)


@pytest.fixture()
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_parse_device_accepts_the_device_names_and_nothing_else():
    assert parse_device("cpu") == DeviceSpec(DeviceType.CPU)
    assert parse_device(" CUDA ") == DeviceSpec(DeviceType.CUDA)
    assert parse_device("cuda:3") == DeviceSpec(DeviceType.CUDA, 3)
    assert str(parse_device("cuda:3")) == "cuda:3"
    for bad in ("banana", "cuda:", "cuda:-1", "cpu:1", "cuda:1:2", "", "gpu"):
        with pytest.raises(InputError, match="not a device"):
            parse_device(bad)


def test_device_problem_against_the_machine():
    assert device_problem(parse_device("cpu"), NO_CUDA) is None
    assert "no CUDA support" in device_problem(parse_device("cuda"), NO_CUDA)
    no_gpu = Accelerators(cuda_count=0, cuda_built=True, mps=False)
    assert "no CUDA device is visible" in device_problem(parse_device("cuda"), no_gpu)
    assert device_problem(parse_device("cuda:1"), TWO_GPUS) is None
    assert "cuda:3 does not exist: 2 CUDA device(s)" in device_problem(parse_device("cuda:3"), TWO_GPUS)
    # Under torchrun `cuda` means cuda:LOCAL_RANK, which must exist too.
    torchrun = Accelerators(cuda_count=2, cuda_built=True, mps=False, local_rank=2)
    assert "LOCAL_RANK 2" in device_problem(parse_device("cuda"), torchrun)
    # An explicit index under torchrun would put every process on one GPU: refused, not silently shared.
    ranks = Accelerators(cuda_count=2, cuda_built=True, mps=False, local_rank=1)
    assert device_problem(parse_device("cuda"), ranks) is None
    assert "give --device cuda" in device_problem(parse_device("cuda:0"), ranks)
    assert "MPS" in device_problem(parse_device("mps"), NO_CUDA)
    with pytest.raises(InputError, match=r"^--device cuda:3: cuda:3 does not exist"):
        check_device("cuda:3", TWO_GPUS)
    assert check_device("CUDA:1", TWO_GPUS) == "cuda:1"


def test_under_torchrun_cuda_is_the_local_rank_and_every_other_device_is_kept(monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert local_rank() == 3
    assert rank_device("cuda", world_size=4) == "cuda:3"
    assert rank_device("cuda:1", world_size=4) == "cuda:1"
    assert rank_device("cpu", world_size=4) == "cpu"
    assert rank_device("cuda", world_size=1) == "cuda"
    monkeypatch.delenv("LOCAL_RANK")
    assert local_rank() == 0
    assert rank_device("cuda", world_size=2) == "cuda:0"


@pytest.mark.parametrize("variable", ["LOCAL_RANK", "WORLD_SIZE", "RANK"])
def test_torchrun_variables_are_read_in_one_place(variable):
    root = Path(__file__).resolve().parents[2]
    readers = sorted(str(path.relative_to(root)) for folder in ("benchmark", "runners", "reports")
                     for path in (root / folder).rglob("*.py")
                     if f'environ.get("{variable}"' in path.read_text() or f"environ.get('{variable}'" in path.read_text())
    assert readers == ["benchmark/device.py"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Valid inputs for every command, so that only the device can be wrong."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        d = tmp_path_factory.mktemp("inputs")
        ref = write_archive(d / "ref.npz", gratings(20, 16, seed=1))
        sample = write_archive(d / "sample.npz", gratings(20, 16, seed=2))
        import numpy as np

        rng = np.random.default_rng(0)
        np.savez(d / "tiny.npz", rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8), np.arange(16) % 4)
        config = d / "tiny.json"
        config.write_text(json.dumps(tiny_run_dict(d / "tiny.npz", milestones=[1])))
        from runners.config import load_run_config
        from runners.train import train

        run = train(load_run_config(config), d / "out")
        return {"ref": ref, "sample": sample, "config": config, "run": run}
    finally:
        torch.set_num_threads(before)


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _args(command: str, inputs: dict[str, Path], work: Path) -> list[str]:
    if command == "evaluate":
        return ["evaluate", str(inputs["ref"]), str(inputs["sample"]), "--extractor", "random-cnn-test", "--no-cache",
                "--output", str(work / "result.txt")]  # fmt: skip
    if command == "demo":
        return ["demo", "--out", str(work / "demo"), "--no-cache"]
    if command == "train":
        return ["train", str(inputs["config"]), "--out", str(work / "out")]
    if command == "sample":
        return ["sample", str(inputs["run"]), "--num-samples", "1", "--sampler", "ddim", "--respacing", "ddim2"]
    assert command == "reproduce"
    return ["reproduce", "--preset", "smoke", "--tables", "1", "--out", str(work / "repro")]


@pytest.mark.parametrize("command", ["evaluate", "demo", "train", "sample", "reproduce"])
@pytest.mark.parametrize(("device", "gpus", "expected"), [
    ("cuda", 0, "--device cuda: "),
    ("cuda:3", 1, "--device cuda:3: cuda:3 does not exist: 1 CUDA device(s) visible"),
    ("banana", 0, "--device: 'banana' is not a device"),
])  # fmt: skip
def test_a_missing_device_is_one_line_exit_2_and_writes_nothing(inputs, tmp_path, monkeypatch, command, device,
                                                                gpus, expected):  # fmt: skip
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.chdir(tmp_path)
    run_before = _listing(inputs["run"])
    work = tmp_path / "work"
    work.mkdir()
    result = CliRunner().invoke(main, [*_args(command, inputs, work), "--device", device, "--quiet"])
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, AssertionError | RuntimeError), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {expected}"), result.output
    assert _listing(work) == [] and _listing(inputs["run"]) == run_before
    assert os.listdir(tmp_path) == ["work"]
