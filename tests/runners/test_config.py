"""Configs, tags, hashes and run directories."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from benchmark.diffusion.respacing import Respacing, RespacingKind
from benchmark.diffusion.sampling import Sampler
from benchmark.errors import InputError
from runners.config import ClassifierRunConfig, RunConfig, SampleConfig, load_run_config, run_config_from_dict
from runners.rundir import RunDir, config_hash, sample_tag

from tests.runners.conftest import SMOKE, tiny_classifier_dict, tiny_run_dict

pytestmark = pytest.mark.usefixtures("one_thread")


def test_smoke_config_loads_and_round_trips():
    config = load_run_config(SMOKE)
    assert isinstance(config, RunConfig)
    assert (config.unet.image_size, config.train.resolution, config.train.channels) == (16, 16, 3)
    assert config.train.milestones == (100, 200) and config.train.batch_size == 32
    assert config.diffusion.variance_type.is_learned and config.diffusion.steps == 1000
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_classifier_config_round_trips(tiny_npz):
    config = run_config_from_dict(tiny_classifier_dict(tiny_npz))
    assert isinstance(config, ClassifierRunConfig)
    assert ClassifierRunConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "where, key",
    [((), "bogus"), (("train",), "learning_rate"), (("unet",), "channels"), (("diffusion",), "beta")],
)
def test_unknown_keys_are_refused_by_name(tiny_npz, where, key):
    data = tiny_run_dict(tiny_npz)
    target = data
    for part in where:
        target = target[part]
    target[key] = 1
    with pytest.raises(InputError, match=key):
        run_config_from_dict(data)


def test_inconsistent_configs_are_refused(tiny_npz):
    data = tiny_run_dict(tiny_npz)
    data["train"]["resolution"] = 16
    with pytest.raises(InputError, match="image_size"):
        run_config_from_dict(data)
    data = tiny_run_dict(tiny_npz, milestones=[5, 3])
    with pytest.raises(InputError, match="milestones"):
        run_config_from_dict(data)
    with pytest.raises(InputError, match="class_cond"):
        run_config_from_dict(tiny_run_dict(tiny_npz, class_cond=True) | {"unet": tiny_run_dict(tiny_npz)["unet"]})


def test_config_hash_is_sha256_of_sorted_compact_json(tiny_npz, tmp_path):
    config = run_config_from_dict(tiny_run_dict(tiny_npz))
    expected = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert config_hash(config) == expected[:10]
    run_dir = RunDir.for_record(config, tmp_path).path
    assert run_dir.parent == tmp_path / "runs"
    assert re.fullmatch(r"[a-z0-9_-]+-[0-9a-f]{10}", run_dir.name) and run_dir.name.endswith(expected[:10])
    other = run_config_from_dict(tiny_run_dict(tiny_npz, lr=1e-3))
    assert config_hash(other) != config_hash(config)


def test_run_dir_with_other_config_is_refused_naming_keys(tiny_npz, tmp_path):
    a = run_config_from_dict(tiny_run_dict(tiny_npz))
    b = run_config_from_dict(tiny_run_dict(tiny_npz, lr=1e-3, seed=7))
    RunDir(tmp_path / "run").create(a)
    assert json.loads((tmp_path / "run" / "config.json").read_text()) == a.to_dict()
    RunDir(tmp_path / "run").create(a)  # same config: accepted
    with pytest.raises(InputError) as err:
        RunDir(tmp_path / "run").create(b)
    assert "train.lr" in str(err.value) and "train.seed" in str(err.value)
    assert "train.batch_size" not in str(err.value)


def test_sample_tags_are_unique_and_safe():
    ddim25 = dict(sampler=Sampler.DDIM, respacing=Respacing.parse("ddim25"))
    base = SampleConfig(milestone=400, num_samples=500, **ddim25)
    variants = [
        base,
        SampleConfig(milestone=400, num_samples=500, sampler=Sampler.DDIM, respacing=Respacing.parse("25")),
        SampleConfig(milestone=400, num_samples=500, **ddim25, eta=0.5),
        SampleConfig(milestone=400, num_samples=500, sampler=Sampler.DDPM, respacing=Respacing.parse("250")),
        SampleConfig(milestone=400, num_samples=500, sampler=Sampler.DDPM, respacing=Respacing.parse("90,60,60,20,20")),
        SampleConfig(milestone=500, num_samples=500, **ddim25),
        SampleConfig(milestone=400, num_samples=501, **ddim25),
        SampleConfig(milestone=400, num_samples=500, **ddim25, seed=1),
        SampleConfig(milestone=400, num_samples=500, **ddim25, use_ema=False),
        SampleConfig(milestone=400, num_samples=500, **ddim25, ema_rate=0.999),
        SampleConfig(milestone=400, num_samples=500, **ddim25, clip_denoised=False),
        SampleConfig(milestone=400, num_samples=500, **ddim25, guidance_scale=1.0,
                     classifier_run="out/runs/clf-a-0123456789"),
        SampleConfig(milestone=400, num_samples=500, **ddim25, guidance_scale=1.0,
                     classifier_run="out/runs/clf-a-abcdef0123"),
    ]
    tags = [sample_tag(v) for v in variants]
    assert len(set(tags)) == len(tags)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", t) for t in tags)
    assert sample_tag(SampleConfig(milestone=400, num_samples=500, batch_size=7, **ddim25)) == tags[0]
    assert SampleConfig.from_dict(base.to_dict()) == base


def test_sample_config_reads_sampler_and_respacing_as_typed_values():
    data = {"sampler": "ddim", "respacing": "90,60,60,20,20", "num_samples": 5}
    config = SampleConfig.from_dict(data)
    assert config.sampler is Sampler.DDIM
    assert (config.respacing.kind, config.respacing.counts) == (RespacingKind.SECTIONS, (90, 60, 60, 20, 20))
    assert {k: config.to_dict()[k] for k in data} == data  # written back as read: sample.json and tags keep their text
    with pytest.raises(InputError, match="sample.sampler must be one of"):
        SampleConfig.from_dict({"sampler": "euler"})
    with pytest.raises(InputError, match="^sample.json: respacing"):
        SampleConfig.from_dict({"respacing": "fast"}, "sample.json")


def test_sample_config_validation():
    with pytest.raises(InputError, match="classifier_run"):
        SampleConfig(guidance_scale=1.0)
    with pytest.raises(InputError, match="eta"):
        SampleConfig(sampler=Sampler.DDPM, eta=0.5)
    with pytest.raises(InputError, match="respacing"):
        SampleConfig.from_dict({"respacing": "fast"})
    with pytest.raises(InputError, match="unknown"):
        SampleConfig.from_dict({"steps": 3})


def test_stats_rewind_drops_later_and_torn_lines(tmp_path):
    (tmp_path / "stats.jsonl").write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n{"ste')
    assert [r["step"] for r in RunDir(tmp_path).read_stats()] == [1, 2, 3]
    RunDir(tmp_path).rewind_stats(2)
    assert (tmp_path / "stats.jsonl").read_text() == '{"step": 1}\n{"step": 2}\n'
