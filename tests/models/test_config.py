"""Config round trips, unknown-key refusal and one InputError per impossible combination."""

from __future__ import annotations

import dataclasses
import json

import pytest

from benchmark.errors import InputError
from benchmark.models import (
    AttentionOrder,
    ClassifierConfig,
    NormType,
    Pooling,
    Precision,
    UNetConfig,
)

NON_DEFAULT_UNET = UNetConfig(
    image_size=512, model_channels=256, channel_mult=(0.5, 1, 1, 2, 2, 4, 4), num_res_blocks=2,
    attention_resolutions=(32, 16, 8), num_heads=4, num_head_channels=None, num_heads_upsample=2,
    resblock_updown=False, rescale_skip=True, norm=NormType.ADDITION_GROUPNORM, dropout=0.1, num_classes=1000,
    attention_order=AttentionOrder.NEW, dtype=Precision.BF16, use_checkpoint=True, learn_sigma=False,
)  # fmt: skip
NON_DEFAULT_CLASSIFIER = ClassifierConfig(
    image_size=128, channel_mult=(1, 1, 2, 3, 4), num_res_blocks=4, pool=Pooling.SPATIAL_V2,
    num_head_channels=None, num_heads=2, dtype=Precision.FP16, num_classes=10,
)  # fmt: skip


@pytest.mark.parametrize("config", [UNetConfig(), ClassifierConfig(), NON_DEFAULT_UNET, NON_DEFAULT_CLASSIFIER])
def test_round_trips(config, tmp_path) -> None:
    cls = type(config)
    assert cls.from_dict(config.to_dict()) == config
    assert cls.from_json(config.to_json()) == config
    data = json.loads(config.to_json())
    assert all(isinstance(v, (int, float, bool, str, list, type(None))) for v in data.values())
    config.save(tmp_path / "c.json")
    assert cls.load(tmp_path / "c.json") == config


def test_missing_keys_take_defaults() -> None:
    assert UNetConfig.from_dict({"image_size": 128, "channel_mult": [1, 1, 2, 3, 4]}).num_res_blocks == 2
    assert UNetConfig.from_dict({}) == UNetConfig()


def test_configs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        UNetConfig().image_size = 32  # type: ignore[misc]


@pytest.mark.parametrize("cls", [UNetConfig, ClassifierConfig])
def test_unknown_key_is_named(cls, tmp_path) -> None:
    with pytest.raises(InputError, match="attention_resolution'"):
        cls.from_dict({"attention_resolution": [16]})
    path = tmp_path / "bad.json"
    path.write_text('{"num_channels": 128}')
    with pytest.raises(InputError, match=r"bad\.json.*'num_channels'"):
        cls.load(path)


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"norm": "scale_shift"}, "norm must be one of"),
        ({"image_size": "64"}, "image_size must be an integer"),
        ({"learn_sigma": 1}, "learn_sigma must be true or false"),
        ({"channel_mult": 2}, "channel_mult must be a list"),
        ({"dropout": "0.1"}, "dropout must be a number"),
    ],
)
def test_bad_values_are_named(data, pattern) -> None:
    with pytest.raises(InputError, match=pattern):
        UNetConfig.from_dict(data)


def test_bad_json_text() -> None:
    with pytest.raises(InputError, match="not valid JSON"):
        UNetConfig.from_json("{")
    with pytest.raises(InputError, match="JSON object"):
        UNetConfig.from_dict([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(model_channels=96, num_head_channels=64), "not divisible by num_head_channels 64"),
        (dict(num_head_channels=None, num_heads=3, model_channels=64), "not divisible by 3 heads"),
        (dict(num_head_channels=None, num_heads=2, num_heads_upsample=3, model_channels=64), r"\(upsampling\)"),
        (dict(attention_resolutions=(24,)), r"attention resolution 24 px is not in the network"),
        (dict(attention_resolutions=(64, 4)), r"attention resolution 4 px"),
        (dict(attention_resolutions=(16, 16)), "duplicates"),
        (dict(image_size=48, channel_mult=(1, 2, 3, 4, 4, 4)), "cannot be halved 5 times"),
        (dict(model_channels=100), "not divisible by the 32 GroupNorm groups"),
        (dict(model_channels=96, channel_mult=(1.5, 1), attention_resolutions=(), num_head_channels=32,
              image_size=8), "not divisible by the 32 GroupNorm"),
        (dict(model_channels=65, channel_mult=(0.5, 1)), "not a positive whole number"),
        (dict(channel_mult=()), "at least one level"),
        (dict(channel_mult=(1, 0)), "not a positive whole number"),
        (dict(num_res_blocks=0), "num_res_blocks must be >= 1"),
        (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
        (dict(num_classes=0), "num_classes must be >= 1"),
        (dict(num_heads=0), "num_heads must be >= 1"),
        (dict(num_head_channels=0), "num_head_channels must be >= 1"),
        (dict(num_heads_upsample=0), "num_heads_upsample must be >= 1"),
        (dict(image_size=0), "must be positive"),
        (dict(out_channels=0), "out_channels must be positive"),
    ],
)
def test_impossible_unet_combinations(kwargs, pattern) -> None:
    with pytest.raises(InputError, match=pattern):
        UNetConfig(**kwargs)


def test_middle_block_heads_are_checked() -> None:
    # No attention resolution at all, but the middle block always has attention: 3 heads cannot split 128.
    with pytest.raises(InputError, match="middle block attention"):
        UNetConfig(model_channels=32, channel_mult=(1, 4), image_size=16, attention_resolutions=(),
                   num_heads=3, num_head_channels=None)  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(pool=Pooling.ATTENTION, num_head_channels=None), "attention pooling needs num_head_channels"),
        (dict(num_classes=0), "num_classes must be >= 1"),
        (dict(attention_resolutions=(7,)), "7 px is not in the network"),
        (dict(model_channels=96), "not divisible by num_head_channels 64"),
    ],
)
def test_impossible_classifier_combinations(kwargs, pattern) -> None:
    with pytest.raises(InputError, match=pattern):
        ClassifierConfig(**kwargs)


def test_from_dict_reports_validation_with_path(tmp_path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"model_channels": 100}))
    with pytest.raises(InputError, match=r"c\.json: UNetConfig: level width 100"):
        UNetConfig.load(path)


def test_derived_properties() -> None:
    assert UNetConfig(learn_sigma=True, out_channels=3).model_out_channels == 6
    assert UNetConfig(learn_sigma=False, out_channels=3).model_out_channels == 3
    assert UNetConfig(num_heads=4, num_heads_upsample=None).heads_upsample == 4
    assert NON_DEFAULT_UNET.level_channels == [128, 256, 256, 512, 512, 1024, 1024]
