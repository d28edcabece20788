"""RunDir: the one place that knows the layout of `runs/<slug>-<hash>/`, and reads its config once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.errors import InputError
from runners.config import ReleasedCheckpoint, RunKind, run_config_from_dict
from runners.rundir import RunDir, config_hash

from tests.runners.conftest import tiny_run_dict


def test_every_path_of_the_layout(tmp_path):
    run = RunDir(tmp_path / "runs" / "fmnist16-ch32-0123456789")
    rel = lambda p: p.relative_to(run.path).as_posix()  # noqa: E731
    assert run.hash == "0123456789"
    assert [rel(p) for p in (run.config_path, run.stats_path, run.log_path, run.train_lock)] == [
        "config.json", "stats.jsonl", "log.txt", "train.lock"]  # fmt: skip
    assert rel(run.state(400)) == "checkpoints/state-0000400.pt"
    assert rel(run.ema(0.9999, 400)) == "checkpoints/ema-0.9999-0000400.safetensors"
    samples = run.sample_dir("step0000400-ema0.9999-ddim-ddim25-eta0-g0-seed0-n500")
    assert rel(samples.path) == "samples/step0000400-ema0.9999-ddim-ddim25-eta0-g0-seed0-n500"
    assert rel(samples.lock) == "samples/step0000400-ema0.9999-ddim-ddim25-eta0-g0-seed0-n500.lock"
    assert samples.record.name == "sample.json" and samples.shard(range(1000, 2000)).name == "shard-0001000-0002000.npz"
    assert samples.archive(500, 16, 16, 1).name == "samples_500x16x16x1.npz"
    assert rel(run.metrics(samples.tag)) == f"metrics/{samples.tag}.json"
    # Checkpoints present are listed from their names.
    run.checkpoints.mkdir(parents=True)
    for name in ("state-0000010.pt", "state-0000002.pt", "ema-0.9999-0000010.safetensors", "other.txt"):
        (run.checkpoints / name).write_bytes(b"")
    assert run.state_steps() == [2, 10] and run.ema_steps() == {0.9999: [10]}


def test_the_config_is_read_once_and_verified(tiny_npz, tmp_path, monkeypatch):
    config = run_config_from_dict(tiny_run_dict(tiny_npz))
    run = RunDir.for_record(config, tmp_path).create(config)
    assert run.path == tmp_path / "runs" / run.name and run.hash == config_hash(config)
    reads = []
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: reads.append(self) or real(self, *a, **k))
    assert run.config == config and run.config == config
    assert reads == [run.config_path]
    monkeypatch.undo()
    bad = RunDir(tmp_path / "bad")
    bad.path.mkdir()
    bad.config_path.write_text(json.dumps({**config.to_dict(), "trian": {}}))
    with pytest.raises(InputError, match=f"^{bad.config_path}: unknown run config key 'trian'"):
        bad.config
    with pytest.raises(InputError, match="not a run directory"):
        RunDir(tmp_path / "nowhere").config


@pytest.mark.parametrize("text,message", [(b'{"kind": ', "not valid JSON"), (b"\xff{}", "not UTF-8")])
def test_a_damaged_config_is_refused_before_anything_is_written(tiny_npz, tmp_path, text, message):
    config = run_config_from_dict(tiny_run_dict(tiny_npz))
    run = RunDir.for_record(config, tmp_path)
    run.path.mkdir(parents=True)
    run.config_path.write_bytes(text)
    with pytest.raises(InputError, match=f"^{run.config_path}: .*{message}.*start afresh"):
        run.create(config)
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json"] and run.config_path.read_bytes() == text


def test_a_released_checkpoint_is_a_typed_record_named_by_its_identity(tmp_path):
    record = ReleasedCheckpoint(RunKind.GD_CHECKPOINT, "64x64_diffusion.pt", str(tmp_path / "64x64_diffusion.pt"),
                                "ab" * 32, {"image_size": 64})  # fmt: skip
    run = RunDir.for_record(record, tmp_path).create(record)
    assert run.name == f"gd-64x64-diffusion-{config_hash(record.identity())}"
    # The same weights and flags found elsewhere are the same run.
    moved = ReleasedCheckpoint(RunKind.GD_CHECKPOINT, record.name, "/elsewhere/64x64_diffusion.pt", record.sha256,
                               record.flags)  # fmt: skip
    assert RunDir.for_record(moved, tmp_path) == run
    assert RunDir(run.path).config == record
    damaged = json.loads(run.config_path.read_text())
    del damaged["checkpoint"]["sha256"]
    run.config_path.write_text(json.dumps(damaged))
    with pytest.raises(InputError, match=f"^{run.config_path}: .*sha256"):
        RunDir(run.path).config
