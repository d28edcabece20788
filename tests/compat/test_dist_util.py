"""benchmark.compat.guided_diffusion.dist_util: checkpoint loading and a two-process torchrun group (the one-process group is
exercised by every run of tests/compat/gd_sample_script.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from benchmark.compat.guided_diffusion import dist_util
from benchmark.errors import InputError

REPO = Path(__file__).resolve().parents[2]


class _Payload:
    """Not a tensor container: weights_only loading must refuse it."""


def test_load_state_dict_round_trip(tmp_path: Path):
    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64)}
    torch.save(state, tmp_path / "m.pt")
    loaded = dist_util.load_state_dict(str(tmp_path / "m.pt"), map_location="cpu")
    assert set(loaded) == {"w", "b"}
    torch.testing.assert_close(loaded["w"], state["w"])
    assert loaded["b"].dtype == torch.int64
    module = torch.nn.Linear(3, 2)
    torch.save(module.state_dict(), tmp_path / "lin.pt")
    other = torch.nn.Linear(3, 2)
    other.load_state_dict(dist_util.load_state_dict(tmp_path / "lin.pt", map_location=torch.device("cpu")))
    torch.testing.assert_close(other.weight, module.weight)


def test_load_state_dict_refuses_pickled_objects(tmp_path: Path):
    torch.save({"w": torch.zeros(1), "obj": _Payload()}, tmp_path / "bad.pt")
    with pytest.raises(InputError, match="bad.pt"):
        dist_util.load_state_dict(tmp_path / "bad.pt")


def test_load_state_dict_missing_or_damaged_file(tmp_path: Path):
    with pytest.raises(InputError, match="not found"):
        dist_util.load_state_dict(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.pt"):
        dist_util.load_state_dict(tmp_path / "junk.pt")


def test_dev_and_sync_without_a_group():
    assert dist_util.dev() == (torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu"))
    params = [torch.ones(3), torch.zeros(2)]
    dist_util.sync_params(params)  # nothing to synchronise with
    assert params[0].tolist() == [1.0, 1.0, 1.0] and params[1].tolist() == [0.0, 0.0]


_PROGRAM = textwrap.dedent(
    """
    import json, sys
    import torch
    import torch.distributed as dist
    from benchmark.compat.guided_diffusion import dist_util, logger

    dist_util.setup_dist()
    dist_util.setup_dist()  # a second call keeps the group
    rank, size = dist.get_rank(), dist.get_world_size()
    logger.configure(dir=sys.argv[1], format_strs=["log"])
    logger.log(f"rank {rank} of {size}")
    params = [torch.full((3,), float(rank + 1)), torch.arange(4.0) * (rank + 1)]
    dist_util.sync_params(params)
    gathered = [torch.zeros(1) for _ in range(size)]
    dist.all_gather(gathered, torch.tensor([float(rank)]))
    dist.barrier()
    out = {"rank": rank, "size": size, "backend": dist.get_backend(), "device": str(dist_util.dev()),
           "params": [p.tolist() for p in params], "gathered": [g.item() for g in gathered]}
    with open(f"{sys.argv[1]}/result{rank}.json", "w") as f:
        json.dump(out, f)
    """
)


def _env() -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "OPENAI_LOGDIR"):
        env.pop(name, None)
    return env


def test_torchrun_two_processes(tmp_path: Path):
    """torchrun --nproc_per_node 2: sync_params copies rank 0's tensors; rank 1 logs to log-rank001.txt."""
    program = tmp_path / "prog.py"
    program.write_text(_PROGRAM)
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            str(program), str(tmp_path)]
    # A new session, so a hung run can be ended with its worker processes (never left orphaned).
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-3000:]
    for rank in (0, 1):
        result = json.loads((tmp_path / f"result{rank}.json").read_text())
        assert result["rank"] == rank and result["size"] == 2 and result["backend"] == "gloo"
        assert result["params"] == [[1.0, 1.0, 1.0], [0.0, 1.0, 2.0, 3.0]]  # rank 0's values everywhere
        assert result["gathered"] == [0.0, 1.0]
    assert "rank 0 of 2" in (tmp_path / "log.txt").read_text()
    assert "rank 1 of 2" in (tmp_path / "log-rank001.txt").read_text()
