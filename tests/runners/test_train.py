"""Training runner: exact resume (in process, after SIGKILL and SIGTERM), EMA, micro-batches, faults."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmark.errors import InputError
from benchmark.models.unet import UNet
from runners import checkpointing
from runners.config import run_config_from_dict
from runners.rundir import RunDir
from runners.train import train
from runners.train_classifier import train_classifier
from runners.trainloop import learning_rate, seeded_init

from tests.runners.conftest import REPO, assert_same_tensors, load_state, tiny_classifier_dict, tiny_run_dict

pytestmark = pytest.mark.usefixtures("one_thread")

TOTAL = 12


def _exact_dict(dataset: Path) -> dict:
    """Every feature that carries state across steps: micro-batches, flips, clipping, anneal, weight decay."""
    return tiny_run_dict(dataset, milestones=[TOTAL], checkpoint_every=3, microbatch=3, random_flip=True,
                         grad_clip=1.0, lr_anneal_steps=20, weight_decay=0.01,
                         timestep_sampler="loss-second-moment")  # fmt: skip


@pytest.fixture(scope="module")
def reference_run(tiny_npz, tmp_path_factory) -> tuple[dict, dict]:
    """An uninterrupted run: (config dict, final state)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = _exact_dict(tiny_npz)
        run_dir = train(run_config_from_dict(data), tmp_path_factory.mktemp("ref"))
        return data, load_state(run_dir, TOTAL)
    finally:
        torch.set_num_threads(before)


def _assert_same_final(run_dir: Path, reference: dict) -> None:
    state = load_state(run_dir, TOTAL)
    assert_same_tensors(state["model"], reference["model"])
    for rate in reference["ema"]:
        assert_same_tensors(state["ema"][rate], reference["ema"][rate])
    for k, v in reference["optimizer"]["state"].items():
        assert_same_tensors(state["optimizer"]["state"][k], v)


def test_resume_in_process_is_bitwise_identical(reference_run, tmp_path):
    data, reference = reference_run
    config = run_config_from_dict(data)
    train(config, tmp_path, stop_after=1)
    train(config, tmp_path, stop_after=4)  # resumes at 1, stops at 5 (between periodic checkpoints)
    assert RunDir(RunDir.for_record(config, tmp_path).path).state_steps()[-1] == 5
    run_dir = train(config, tmp_path)
    _assert_same_final(run_dir, reference)
    assert [r["step"] for r in RunDir(run_dir).read_stats()] == list(range(1, TOTAL + 1))
    assert "resumed from state-0000005.pt" in (run_dir / "log.txt").read_text()


def test_rerun_after_the_last_milestone_does_nothing(reference_run, tmp_path):
    config = run_config_from_dict(tiny_run_dict(reference_run[0]["train"]["dataset"], milestones=[2]))
    run_dir = train(config, tmp_path)
    final = RunDir(run_dir).state(2)
    before = final.stat().st_mtime_ns, (run_dir / "stats.jsonl").read_text()
    assert train(config, tmp_path) == run_dir
    assert (final.stat().st_mtime_ns, (run_dir / "stats.jsonl").read_text()) == before


def test_ema_follows_the_closed_form(tiny_npz, tmp_path):
    data = tiny_run_dict(tiny_npz, milestones=[1, 2], checkpoint_every=1)
    config = run_config_from_dict(data)
    run_dir = train(config, tmp_path)
    p0 = seeded_init(config.train.seed, lambda: UNet(config.unet)).state_dict()
    p1, s2 = load_state(run_dir, 1)["model"], load_state(run_dir, 2)
    for rate in config.train.ema_rates:
        ema = s2["ema"][repr(rate)]
        for name, _ in UNet(config.unet).named_parameters():
            expected = rate * (rate * p0[name] + (1 - rate) * p1[name]) + (1 - rate) * s2["model"][name]
            torch.testing.assert_close(ema[name], expected, rtol=1e-6, atol=1e-7)
    # The sampling copy of the EMA weights holds the same tensors.
    weights, meta = checkpointing.read_ema(RunDir(run_dir).ema(0.99, 2))
    assert_same_tensors(weights, s2["ema"]["0.99"])
    assert meta["step"] == "2" and json.loads(meta["config"]) == config.to_dict()


def test_microbatches_match_the_full_batch(tiny_npz, tmp_path):
    full = train(run_config_from_dict(tiny_run_dict(tiny_npz, milestones=[2])), tmp_path / "a")
    micro = train(run_config_from_dict(tiny_run_dict(tiny_npz, milestones=[2], microbatch=3)), tmp_path / "b")
    a, b = load_state(full, 2)["model"], load_state(micro, 2)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6)


def test_learning_rate_anneal_and_stats(tiny_npz, tmp_path):
    config = run_config_from_dict(tiny_run_dict(tiny_npz, milestones=[3], lr_anneal_steps=4, lr=1e-3))
    run_dir = train(config, tmp_path)
    rows = RunDir(run_dir).read_stats()
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert [r["lr"] for r in rows] == pytest.approx([1e-3, 1e-3 * 0.75, 1e-3 * 0.5])
    assert learning_rate(config.train, 4) == 0.0
    for r in rows:
        assert r["loss"] == pytest.approx(r["mse"] + r["vb"], rel=1e-5)


def test_corrupt_latest_checkpoint_falls_back_to_the_previous(reference_run, tmp_path):
    data, reference = reference_run
    config = run_config_from_dict(data)
    run_dir = train(config, tmp_path, stop_after=4)  # checkpoints at 3 and 4
    latest = RunDir(run_dir).state(4)
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    train(config, tmp_path)
    log = (run_dir / "log.txt").read_text()
    assert "state-0000004.pt is unreadable" in log and "resumed from state-0000003.pt" in log
    _assert_same_final(run_dir, reference)


def test_disk_full_during_a_checkpoint_leaves_no_partial_file(reference_run, tmp_path, monkeypatch):
    data, reference = reference_run
    config = run_config_from_dict(data)
    run_dir = train(config, tmp_path, stop_after=3)
    real_save = torch.save

    def full_disk(obj, f):
        with open(f, "wb") as handle:
            handle.write(b"partial checkpoint bytes")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpointing.torch, "save", full_disk)
    with pytest.raises(OSError) as err:
        train(config, tmp_path)
    assert err.value.errno == errno.ENOSPC
    assert RunDir(run_dir).state_steps() == [3]
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]
    monkeypatch.setattr(checkpointing.torch, "save", real_save)
    train(config, tmp_path)
    _assert_same_final(run_dir, reference)


def test_missing_and_corrupt_datasets_are_input_errors(tiny_npz, tmp_path):
    with pytest.raises(InputError, match="not found"):
        train(run_config_from_dict(tiny_run_dict(tmp_path / "absent.npz")), tmp_path)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(tiny_npz.read_bytes()[:100])
    with pytest.raises(InputError, match="broken.npz"):
        train(run_config_from_dict(tiny_run_dict(broken)), tmp_path)


def test_conditional_model_and_noisy_classifier_train(tiny_npz, tmp_path):
    run_dir = train(run_config_from_dict(tiny_run_dict(tiny_npz, class_cond=True, milestones=[1])), tmp_path)
    assert "label_emb.weight" in load_state(run_dir, 1)["model"]
    config = run_config_from_dict(tiny_classifier_dict(tiny_npz))
    clf_dir = train_classifier(config, tmp_path)
    rows = RunDir(clf_dir).read_stats()
    assert [r["step"] for r in rows] == [1, 2]
    assert all(0.0 <= r["acc1"] <= r["acc4"] <= 1.0 and r["loss"] > 0 for r in rows)
    assert RunDir(clf_dir).state_steps() == [1, 2]
    assert train_classifier(config, tmp_path) == clf_dir


def test_reduced_precision_steps_run(tiny_npz, tmp_path):
    run_dir = train(run_config_from_dict(tiny_run_dict(tiny_npz, milestones=[1], precision="bf16")), tmp_path / "b")
    assert torch.isfinite(torch.tensor(RunDir(run_dir).read_stats()[0]["loss"]))
    run_dir = train(run_config_from_dict(tiny_run_dict(tiny_npz, milestones=[1], precision="fp16")), tmp_path / "h")
    assert RunDir(run_dir).read_stats()[0]["loss_scale"] > 0
    assert load_state(run_dir, 1)["scaler"]


# ----------------------------------------------------------------------------------------------------------------
# Killed processes.


def _start(config_path: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, str(REPO / "cli.py"), "train", str(config_path), "--out", str(out), "--quiet"]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_step(proc: subprocess.Popen, run_dir: Path, step: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if RunDir(run_dir).read_stats() and RunDir(run_dir).read_stats()[-1]["step"] >= step:
            return
        if proc.poll() is not None:
            raise AssertionError(f"training ended early: {proc.stderr.read().decode()}")
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("training did not reach the step in time")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_training_resumes_bitwise(reference_run, tmp_path, sig):
    data, reference = reference_run
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(data))
    config = run_config_from_dict(data)
    run_dir = RunDir.for_record(config, tmp_path).path
    proc = _start(config_path, tmp_path)
    _wait_for_step(proc, run_dir, 4)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(sig)
    code = proc.wait(timeout=120)
    stopped_at = RunDir(run_dir).read_stats()[-1]["step"]
    assert stopped_at < TOTAL
    if sig == signal.SIGTERM:
        assert code == 143, proc.stderr.read().decode()
        # The handler checkpoints at the next step boundary.
        assert RunDir(run_dir).state_steps()[-1] == stopped_at
        assert f"stopped by signal {int(sig)}" in (run_dir / "log.txt").read_text()
    else:
        assert code == -signal.SIGKILL
    train(config, tmp_path)
    _assert_same_final(run_dir, reference)
    assert [r["step"] for r in RunDir(run_dir).read_stats()] == list(range(1, TOTAL + 1))


def test_image_folder_workers_give_the_same_training(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = torch.Generator().manual_seed(0)
    for i in range(12):
        pixels = torch.randint(0, 256, (10, 12, 3), generator=rng, dtype=torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"c{i % 3}_{i:03d}.png")
    config = run_config_from_dict(tiny_run_dict(folder, class_cond=True, milestones=[2], random_flip=True)
                                  | {"unet": {**tiny_run_dict(folder)["unet"], "num_classes": 3}})  # fmt: skip
    in_main = train(config, tmp_path / "a", num_workers=0)
    workers = train(config, tmp_path / "b", num_workers=2)
    assert_same_tensors(load_state(in_main, 2)["model"], load_state(workers, 2)["model"])


# ----------------------------------------------------------------------------------------------------------------
# EMA warm-up, learning-rate warm-up and the fast settings.


def test_ema_warmup_follows_its_closed_form(tiny_npz, tmp_path):
    config = run_config_from_dict(tiny_run_dict(tiny_npz, milestones=[1, 2], checkpoint_every=1, ema_warmup=True,
                                                ema_rates=[0.1, 0.999]))  # fmt: skip
    run_dir = train(config, tmp_path)
    p0 = seeded_init(config.train.seed, lambda: UNet(config.unet)).state_dict()
    p1, s2 = load_state(run_dir, 1)["model"], load_state(run_dir, 2)
    for rate in config.train.ema_rates:
        b1, b2 = min(rate, 2 / 11), min(rate, 3 / 12)  # (1 + t) / (10 + t) at steps 1 and 2
        for name, _ in UNet(config.unet).named_parameters():
            expected = b2 * (b1 * p0[name] + (1 - b1) * p1[name]) + (1 - b2) * s2["model"][name]
            torch.testing.assert_close(s2["ema"][repr(rate)][name], expected, rtol=1e-6, atol=1e-7)


def test_learning_rate_warmup_then_anneal(tiny_npz):
    config = run_config_from_dict(tiny_run_dict(tiny_npz, lr=1e-3, lr_warmup_steps=4, lr_anneal_steps=10)).train
    assert [learning_rate(config, s) for s in range(6)] == pytest.approx(
        [1e-3 * min(1, (s + 1) / 4) * (1 - s / 10) for s in range(6)])


@pytest.mark.parametrize("settings", [
    {"precision": "bf16", "optimizer": "fused", "channels_last": True},
    {"precision": "fp16", "optimizer": "for-loop"},
])  # fmt: skip
def test_fast_settings_resume_bitwise(tiny_npz, tmp_path, settings):
    data = tiny_run_dict(tiny_npz, milestones=[6], checkpoint_every=2, ema_warmup=True, **settings)
    config = run_config_from_dict(data)
    whole = train(config, tmp_path / "whole")
    train(config, tmp_path / "parts", stop_after=3)
    parts = train(config, tmp_path / "parts")
    a, b = load_state(whole, 6), load_state(parts, 6)
    assert_same_tensors(a["model"], b["model"])
    for rate in a["ema"]:
        assert_same_tensors(a["ema"][rate], b["ema"][rate])
    assert json.loads(a["config"])["train"]["optimizer"] == settings["optimizer"]


def test_optimizer_implementations_agree(tiny_npz, tmp_path):
    states = [load_state(train(run_config_from_dict(tiny_run_dict(tiny_npz, milestones=[2], optimizer=impl)),
                               tmp_path / impl), 2)["model"] for impl in ("for-loop", "foreach", "fused")]  # fmt: skip
    for other in states[1:]:
        for k in states[0]:
            torch.testing.assert_close(other[k], states[0][k], rtol=1e-5, atol=1e-6)


def test_bad_speed_settings_name_the_key(tiny_npz):
    for key, value in (("precision", "fp8"), ("optimizer", "sgd"), ("channels_last", "yes")):
        with pytest.raises(InputError, match=f"train.{key}"):
            run_config_from_dict(tiny_run_dict(tiny_npz, **{key: value}))
