"""The guided-diffusion drop-in constructors: same flags and defaults, translated to native configs."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from benchmark.compat.guided_diffusion import script_util
from benchmark.errors import InputError
from benchmark.models.released import unet_config_from_flags
from benchmark.models import AttentionOrder, NoisyClassifier, NormType, Pooling, Precision, SuperResUNet, UNet

# guided_diffusion/script_util.py create_model keyword defaults (reference 22e0df8).
REFERENCE_CREATE_MODEL = [
    ("image_size", inspect.Parameter.empty), ("num_channels", inspect.Parameter.empty),
    ("num_res_blocks", inspect.Parameter.empty), ("channel_mult", ""), ("learn_sigma", False),
    ("class_cond", False), ("use_checkpoint", False), ("attention_resolutions", "16"), ("num_heads", 1),
    ("num_head_channels", -1), ("num_heads_upsample", -1), ("use_scale_shift_norm", False), ("dropout", 0),
    ("resblock_updown", False), ("use_fp16", False), ("use_new_attention_order", False),
]  # fmt: skip
REFERENCE_CREATE_CLASSIFIER = [
    "image_size", "classifier_use_fp16", "classifier_width", "classifier_depth", "classifier_attention_resolutions",
    "classifier_use_scale_shift_norm", "classifier_resblock_updown", "classifier_pool",
]  # fmt: skip


def test_create_model_signature_matches_reference() -> None:
    params = inspect.signature(script_util.create_model).parameters
    assert [(p.name, p.default) for p in params.values()] == REFERENCE_CREATE_MODEL


def test_create_classifier_signature_matches_reference() -> None:
    params = inspect.signature(script_util.create_classifier).parameters
    assert list(params) == REFERENCE_CREATE_CLASSIFIER
    assert all(p.default is inspect.Parameter.empty for p in params.values())


def test_flag_translation() -> None:
    cfg = unet_config_from_flags(
        128, 160, 2, attention_resolutions="32,16,8", num_heads=4, use_scale_shift_norm=True, class_cond=True,
        learn_sigma=True, use_new_attention_order=True, use_fp16=True, resblock_updown=True,
    )  # fmt: skip
    assert cfg.channel_mult == (1, 1, 2, 3, 4)  # image-size default for 128
    assert cfg.attention_resolutions == (32, 16, 8)  # pixels, as given
    assert cfg.num_head_channels is None and cfg.num_heads_upsample is None
    assert cfg.norm is NormType.ADAGN and cfg.attention_order is AttentionOrder.NEW
    assert cfg.num_classes == 1000 and cfg.model_out_channels == 6 and cfg.dtype is Precision.FP16
    plain = unet_config_from_flags(64, 64, 1, channel_mult="1,2,2")
    assert plain.channel_mult == (1, 2, 2) and plain.norm is NormType.ADDITION_GROUPNORM
    assert plain.attention_resolutions == (16,) and plain.num_heads == 1 and plain.model_out_channels == 3


def test_unsupported_image_size_without_channel_mult() -> None:
    with pytest.raises(ValueError, match="unsupported image size: 32"):
        script_util.create_model(32, 64, 1)
    with pytest.raises(InputError, match="channel_mult must be comma-separated integers"):
        script_util.create_model(64, 64, 1, channel_mult="1,x")


def test_returns_native_modules() -> None:
    with torch.device("meta"):
        assert isinstance(script_util.create_model(64, 64, 1, channel_mult="1,2", attention_resolutions="32"), UNet)
        clf = script_util.create_classifier(64, False, 64, 1, "32,16,8", True, True, "attention")
        assert isinstance(clf, NoisyClassifier) and clf.config.pool is Pooling.ATTENTION
        assert clf.config.num_head_channels == 64 and clf.config.num_classes == 1000
        sr = script_util.sr_create_model(256, 64, 64, 1, True, False, False, "32", 1, -1, -1, True, 0.0, True, False)
        assert isinstance(sr, SuperResUNet) and sr.config.channel_mult == (1, 1, 2, 2, 4, 4)
    with pytest.raises(InputError, match="classifier_pool must be one of"):
        script_util.create_classifier(64, False, 64, 1, "32", True, True, "max")
    with pytest.raises(InputError, match="unknown released model"):
        script_util.create_released("64x64_diffusion_v2")


def _conv_and_other_dtypes(model: nn.Module) -> tuple[set[torch.dtype], set[torch.dtype]]:
    convs, others = set(), set()
    for name, module in model.named_modules():
        for p in module.parameters(recurse=False):
            is_torso = name.startswith(("input_blocks", "middle_block", "output_blocks"))
            if is_torso and isinstance(module, (nn.Conv1d, nn.Conv2d)):
                convs.add(p.dtype)
            else:
                others.add(p.dtype)
    return convs, others


def test_use_fp16_follows_reference_convert_module_to_f16() -> None:
    model = script_util.create_model(32 * 2, 32, 1, channel_mult="1,2", attention_resolutions="32", use_fp16=True)
    assert model.dtype == torch.float16
    assert _conv_and_other_dtypes(model) == ({torch.float32}, {torch.float32})  # weights stay fp32 until asked
    model.convert_to_fp16()
    # Torso convolutions become fp16; norms, linears, embeddings and the output head stay fp32.
    assert _conv_and_other_dtypes(model) == ({torch.float16}, {torch.float32})
    model.convert_to_fp32()
    assert _conv_and_other_dtypes(model) == ({torch.float32}, {torch.float32})


def test_attention_resolution_absent_from_network_is_refused() -> None:
    # The reference silently builds no attention there; the drop-in refuses the typo instead.
    with pytest.raises(InputError, match="attention resolution 16 px is not in the network"):
        script_util.create_model(64, 64, 1, channel_mult="1,2")
