"""Sampling runner: archive format, per-sample reproducibility, resume, guidance, released-checkpoint sources."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.compat.guided_diffusion import script_util
from benchmark.diffusion.config import DiffusionConfig
from benchmark.diffusion.gaussian import GaussianDiffusion
from benchmark.diffusion.respacing import Respacing
from benchmark.diffusion.rng import SampleRNG
from benchmark.diffusion.sampling import Sampler, ddim_sample_loop
from benchmark.errors import InputError
from benchmark.models.config import Precision
from benchmark.models.unet import UNet
from runners import checkpointing
from runners import sample as sample_mod
from runners.config import SampleConfig, run_config_from_dict
from runners.gd_checkpoint import prepare_gd_model_run
from runners.rundir import RunDir, sample_tag
from runners.sample import quantize, sample
from runners.train import train
from runners.train_classifier import train_classifier

from tests.runners.conftest import NUM_CLASSES, tiny_classifier_dict, tiny_run_dict

pytestmark = pytest.mark.usefixtures("one_thread")


def _numpy_quantize(x: np.ndarray) -> np.ndarray:
    """Independent statement of the reference rule: scale, clip to [0, 255], drop the fraction; NCHW -> NHWC."""
    return np.clip((x.astype(np.float64) + 1.0) * 127.5, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


@pytest.fixture(scope="module")
def runs(tiny_npz, tmp_path_factory) -> dict[str, Path]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("runs")
        cond = train(run_config_from_dict(tiny_run_dict(tiny_npz, class_cond=True, milestones=[1, 2], checkpoint_every=1)), root)
        uncond = train(run_config_from_dict(tiny_run_dict(tiny_npz, milestones=[1])), root)
        clf = train_classifier(run_config_from_dict(tiny_classifier_dict(tiny_npz, milestones=[1])), root)
        return {"cond": cond, "uncond": uncond, "clf": clf}
    finally:
        torch.set_num_threads(before)


def _copy(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / run.name
    shutil.copytree(run, target, ignore=shutil.ignore_patterns("samples"))
    return target


def _load(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    with np.load(path) as f:
        return f["arr_0"], (f["arr_1"] if "arr_1" in f.files else None)


def test_quantization_truncates_like_the_reference():
    x = torch.tensor([-2.0, -1.0, -0.999, -0.5, 0.0, 0.3, 0.99, 0.999, 0.9999, 1.0, 1.7]).view(1, 1, 1, -1)
    assert np.array_equal(quantize(x), _numpy_quantize(x.numpy()))
    assert quantize(torch.tensor([0.999]).view(1, 1, 1, 1)).item() == 254  # rounding would give 255


def test_archive_format_labels_and_record(runs, tmp_path):
    run = _copy(runs["cond"], tmp_path)
    config = SampleConfig(num_samples=10, batch_size=4, sampler=Sampler.DDIM, respacing=Respacing.parse("ddim10"))
    archive = sample(run, config, shard_size=4)
    assert archive.name == "samples_10x8x8x3.npz"
    assert archive.parent.name == "step0000002-ema0.9-ddim-ddim10-eta0-g0-seed0-n10"
    images, labels = _load(archive)
    assert images.dtype == np.uint8 and images.shape == (10, 8, 8, 3)
    assert np.array_equal(labels, np.arange(10) % NUM_CLASSES)
    info = json.loads((archive.parent / "sample.json").read_text())
    assert info["milestone"] == 2 and info["sample_config"]["ema_rate"] == 0.9 and info["num_classes"] == NUM_CLASSES
    assert info["run"]["hash"] == run.name[-10:]
    assert not list(archive.parent.glob("shard-*"))  # merged and removed
    # The same call again returns the finished archive without sampling.
    stamp = archive.stat().st_mtime_ns
    assert sample(run, SampleConfig(num_samples=10, batch_size=7, sampler=Sampler.DDIM, respacing=Respacing.parse("ddim10"))) == archive
    assert archive.stat().st_mtime_ns == stamp


def test_archive_equals_a_direct_sampler_call(runs, tmp_path):
    run = _copy(runs["cond"], tmp_path)
    archive = sample(run, SampleConfig(num_samples=5, batch_size=5, sampler=Sampler.DDIM, respacing=Respacing.parse("ddim20"), seed=3))
    config = run_config_from_dict(json.loads((run / "config.json").read_text()))
    weights, _ = checkpointing.read_ema(RunDir(run).ema(0.9, 2))
    model = UNet(config.unet)
    model.load_state_dict(weights)
    diffusion = GaussianDiffusion.from_config(DiffusionConfig.from_dict({**config.diffusion.to_dict(), "timestep_respacing": "ddim20"}))
    rng = SampleRNG.for_samples(3, range(5))
    y = torch.arange(5) % NUM_CLASSES
    with torch.no_grad():
        x = ddim_sample_loop(diffusion, model, rng.randn((5, 3, 8, 8)), rng.randn_like, model_kwargs={"y": y})
    images, labels = _load(archive)
    assert np.array_equal(images, _numpy_quantize(x.numpy()))
    assert np.array_equal(labels, y.numpy())


def test_archive_is_independent_of_batch_size_shards_and_resumption(runs, tmp_path, monkeypatch):
    config = dict(num_samples=9, sampler=Sampler.DDPM, respacing=Respacing.parse("6"))
    whole = sample(_copy(runs["cond"], tmp_path / "a"), SampleConfig(batch_size=9, **config), shard_size=9)
    run = _copy(runs["cond"], tmp_path / "b")
    calls = {"n": 0}
    real = sample_mod._generate

    def dies_on_the_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sample_mod, "_generate", dies_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        sample(run, SampleConfig(batch_size=2, **config), shard_size=4)  # shard 0-4 done, 4-8 interrupted
    shards = sorted(p.name for p in run.glob("samples/*/shard-*"))
    assert shards == ["shard-0000000-0000004.npz"]
    monkeypatch.setattr(sample_mod, "_generate", real)
    resumed = sample(run, SampleConfig(batch_size=3, **config), shard_size=4)
    assert "1/3 shards already done" in (run / "log.txt").read_text()
    for a, b in zip(_load(whole), _load(resumed)):
        assert np.array_equal(a, b)


def test_disk_full_while_writing_a_shard_leaves_nothing_half_written(runs, tmp_path, monkeypatch):
    run = _copy(runs["uncond"], tmp_path)
    config = SampleConfig(num_samples=4, batch_size=4, sampler=Sampler.DDIM, respacing=Respacing.parse("ddim5"))
    real = np.savez

    def full_disk(file, *arrays):
        with open(file, "wb") as f:
            f.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sample_mod.np, "savez", full_disk)
    with pytest.raises(OSError):
        sample(run, config, shard_size=2)
    out_dir = next((run / "samples").iterdir())
    assert [p.name for p in out_dir.iterdir()] == []
    monkeypatch.setattr(sample_mod.np, "savez", real)
    images, labels = _load(sample(run, config, shard_size=2))
    assert images.shape == (4, 8, 8, 3) and labels is None


def test_milestones_weights_and_fallbacks(runs, tmp_path):
    run = _copy(runs["cond"], tmp_path)
    base = dict(num_samples=3, batch_size=3, sampler=Sampler.DDIM, respacing=Respacing.parse("ddim5"))
    first = sample(run, SampleConfig(milestone=1, **base))
    assert first.parent.name.startswith("step0000001-ema0.9-")
    raw = sample(run, SampleConfig(use_ema=False, **base))
    assert raw.parent.name.startswith("step0000002-model-")
    other_rate = sample(run, SampleConfig(ema_rate=0.99, **base))
    assert not np.array_equal(_load(other_rate)[0], _load(raw)[0])
    with pytest.raises(InputError, match=r"available steps: \[1, 2\]"):
        sample(run, SampleConfig(milestone=3, **base))
    with pytest.raises(InputError, match="EMA rate"):
        sample(run, SampleConfig(ema_rate=0.5, **base))
    # Without the safetensors copy the EMA stored in the state checkpoint gives the same samples.
    expected = _load(other_rate)[0]
    RunDir(run).ema(0.99, 2).unlink()
    shutil.rmtree(other_rate.parent)
    assert np.array_equal(_load(sample(run, SampleConfig(ema_rate=0.99, **base)))[0], expected)
    assert "using the EMA stored in state-0000002.pt" in (run / "log.txt").read_text()


def test_classifier_guidance(runs, tmp_path):
    run = _copy(runs["uncond"], tmp_path)
    base = dict(num_samples=4, batch_size=4, sampler=Sampler.DDIM, respacing=Respacing.parse("ddim5"))
    plain_images, plain_labels = _load(sample(run, SampleConfig(**base)))
    assert plain_labels is None
    guided = SampleConfig(guidance_scale=30.0, classifier_run=str(runs["clf"]), **base)
    images, labels = _load(sample(run, guided))
    assert np.array_equal(labels, np.arange(4) % NUM_CLASSES)
    assert not np.array_equal(images, plain_images)
    info = json.loads((run / "samples" / sample_tag(guided).replace("latest", "step0000001").replace("-ema-", "-ema0.9-")
                       / "sample.json").read_text())  # fmt: skip
    assert info["classifier"]["step"] == 1 and info["labels"] == "label of sample i = i % num_classes"
    ddpm = SampleConfig(num_samples=2, batch_size=2, sampler=Sampler.DDPM, respacing=Respacing.parse("4"), guidance_scale=1.0,
                        classifier_run=str(runs["clf"]))  # fmt: skip
    assert _load(sample(run, ddpm))[0].shape == (2, 8, 8, 3)
    with pytest.raises(InputError, match="not a classifier"):
        sample(run, SampleConfig(guidance_scale=1.0, classifier_run=str(runs["cond"]), **base))


FLAGS = ("--image_size 8 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 --attention_resolutions 4 "
         "--learn_sigma True --class_cond False --num_heads 1 --noise_schedule linear")  # fmt: skip


def test_released_checkpoint_through_the_compatibility_layer(tmp_path):
    # The reference defaults fill the other flags (use_scale_shift_norm True, resblock_updown False, ...).
    torch.manual_seed(0)
    model = script_util.create_model(8, 32, 1, channel_mult="1,2", learn_sigma=True, attention_resolutions="4",
                                   num_heads=1, use_scale_shift_norm=True)  # fmt: skip
    ckpt_path = tmp_path / "tiny_diffusion.pt"
    torch.save(model.state_dict(), ckpt_path)
    run = prepare_gd_model_run(ckpt_path, FLAGS, tmp_path / "out")
    assert run.name.startswith("gd-tiny-diffusion-")
    archive = sample(run, SampleConfig(num_samples=3, batch_size=2, sampler=Sampler.DDIM, respacing=Respacing.parse("ddim10"), seed=5))
    diffusion = GaussianDiffusion.from_config(DiffusionConfig(timestep_respacing="ddim10"))
    rng = SampleRNG.for_samples(5, range(3))
    with torch.no_grad():
        x = ddim_sample_loop(diffusion, model, rng.randn((3, 3, 8, 8)), rng.randn_like)
    assert np.array_equal(_load(archive)[0], _numpy_quantize(x.numpy()))
    assert prepare_gd_model_run(ckpt_path, FLAGS, tmp_path / "out") == run
    with pytest.raises(InputError, match="--bogus"):
        prepare_gd_model_run(ckpt_path, FLAGS + " --bogus 1", tmp_path / "out")
    with pytest.raises(InputError, match="does not match"):
        sample(prepare_gd_model_run(ckpt_path, FLAGS.replace("32", "64"), tmp_path / "out"),
               SampleConfig(num_samples=1, respacing=Respacing.parse("ddim5"), sampler=Sampler.DDIM))  # fmt: skip


def test_released_classifier_guides_a_released_model(tmp_path):
    torch.manual_seed(1)
    model = script_util.create_model(64, 32, 1, channel_mult="1,2", learn_sigma=True, attention_resolutions="32",
                                   num_heads=1, use_scale_shift_norm=True, class_cond=True)  # fmt: skip
    classifier = script_util.create_classifier(64, False, 64, 1, "32,16,8", True, True, "attention")
    torch.save(model.state_dict(), tmp_path / "model.pt")
    torch.save(classifier.state_dict(), tmp_path / "classifier.pt")
    flags = ("--image_size 64 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 --attention_resolutions 32 "
             "--learn_sigma True --class_cond True --num_heads 1")  # fmt: skip
    clf_flags = json.dumps({"image_size": 64, "classifier_width": 64, "classifier_depth": 1})
    result = CliRunner().invoke(main, [
        "sample", "--gd-checkpoint", str(tmp_path / "model.pt"), "--gd-flags", flags,
        "--gd-classifier", str(tmp_path / "classifier.pt"), "--gd-classifier-flags", clf_flags,
        "--guidance-scale", "2", "--num-samples", "2", "--sampler", "ddim", "--respacing", "ddim3",
        "--out", str(tmp_path / "out"), "--quiet",
    ], catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    archive = Path(result.output.strip())
    images, labels = _load(archive)
    assert images.shape == (2, 64, 64, 3) and np.array_equal(labels, [0, 1])
    info = json.loads((archive.parent / "sample.json").read_text())
    assert info["classifier"]["sha256"] and info["run"]["kind"] == "gd-checkpoint" and info["milestone"] is None


def test_bf16_archive_is_independent_of_batch_size(runs, tmp_path):
    """Under bf16 autocast too, each sample depends only on its own seed and label, not on its batch-mates."""
    config = dict(num_samples=6, sampler=Sampler.DDPM, respacing=Respacing.parse("6"), precision=Precision.BF16)
    whole = sample(_copy(runs["cond"], tmp_path / "a"), SampleConfig(batch_size=6, **config), shard_size=6)
    parts = sample(_copy(runs["cond"], tmp_path / "b"), SampleConfig(batch_size=4, **config), shard_size=6)
    for a, b in zip(_load(whole), _load(parts)):
        assert np.array_equal(a, b)


def test_a_sample_command_reads_the_run_config_once(runs, tmp_path, monkeypatch):
    run = _copy(runs["uncond"], tmp_path)
    reads = []
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: reads.append(self) or real(self, *a, **k))
    result = CliRunner().invoke(main, ["sample", str(run), "--num-samples", "2", "--sampler", "ddim", "--respacing",
                                       "ddim2", "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert reads.count(run / "config.json") == 1


def test_a_damaged_released_checkpoint_record_is_one_line_naming_it(tmp_path):
    torch.manual_seed(0)
    model = script_util.create_model(8, 32, 1, channel_mult="1,2", learn_sigma=True, attention_resolutions="4",
                                   num_heads=1, use_scale_shift_norm=True)  # fmt: skip
    torch.save(model.state_dict(), tmp_path / "tiny.pt")
    run = prepare_gd_model_run(tmp_path / "tiny.pt", FLAGS, tmp_path / "out")
    record = json.loads((run / "config.json").read_text())
    del record["flags"]
    (run / "config.json").write_text(json.dumps(record))
    result = CliRunner().invoke(main, ["sample", str(run), "--num-samples", "1", "--sampler", "ddim", "--respacing",
                                       "ddim2"])  # fmt: skip
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.output.strip().splitlines() == [f"error: {run / 'config.json'}: flags must be a JSON object, got NoneType"]
    assert list((run / "samples").iterdir()) == []
