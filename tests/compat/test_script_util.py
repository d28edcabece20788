"""script_util: the reference's default dicts (values written out from guided-diffusion's script_util.py), the
factories' flag semantics, and the argparse helpers."""

from __future__ import annotations

import argparse
import inspect

import numpy as np
import pytest
import torch

from benchmark.compat.guided_diffusion import script_util
from benchmark.compat.guided_diffusion.gaussian_diffusion import LossType, ModelMeanType, ModelVarType
from benchmark.models import NoisyClassifier, SuperResUNet, UNet
from benchmark.models.config import AttentionOrder, NormType, Pooling

# guided_diffusion/script_util.py, in the reference's key order.
REF_DIFFUSION = [
    ("learn_sigma", False), ("diffusion_steps", 1000), ("noise_schedule", "linear"), ("timestep_respacing", ""),
    ("use_kl", False), ("predict_xstart", False), ("rescale_timesteps", False), ("rescale_learned_sigmas", False),
]  # fmt: skip
REF_CLASSIFIER = [
    ("image_size", 64), ("classifier_use_fp16", False), ("classifier_width", 128), ("classifier_depth", 2),
    ("classifier_attention_resolutions", "32,16,8"), ("classifier_use_scale_shift_norm", True),
    ("classifier_resblock_updown", True), ("classifier_pool", "attention"),
]  # fmt: skip
REF_MODEL = [
    ("image_size", 64), ("num_channels", 128), ("num_res_blocks", 2), ("num_heads", 4), ("num_heads_upsample", -1),
    ("num_head_channels", -1), ("attention_resolutions", "16,8"), ("channel_mult", ""), ("dropout", 0.0),
    ("class_cond", False), ("use_checkpoint", False), ("use_scale_shift_norm", True), ("resblock_updown", False),
    ("use_fp16", False), ("use_new_attention_order", False),
]  # fmt: skip
# create_model's own keyword defaults (the second, disagreeing layer).
REF_CREATE_MODEL_KWARGS = {
    "channel_mult": "", "learn_sigma": False, "class_cond": False, "use_checkpoint": False,
    "attention_resolutions": "16", "num_heads": 1, "num_head_channels": -1, "num_heads_upsample": -1,
    "use_scale_shift_norm": False, "dropout": 0, "resblock_updown": False, "use_fp16": False,
    "use_new_attention_order": False,
}  # fmt: skip
REF_CREATE_MODEL_AND_DIFFUSION_PARAMS = [
    "image_size", "class_cond", "learn_sigma", "num_channels", "num_res_blocks", "channel_mult", "num_heads",
    "num_head_channels", "num_heads_upsample", "attention_resolutions", "dropout", "diffusion_steps",
    "noise_schedule", "timestep_respacing", "use_kl", "predict_xstart", "rescale_timesteps",
    "rescale_learned_sigmas", "use_checkpoint", "use_scale_shift_norm", "resblock_updown", "use_fp16",
    "use_new_attention_order",
]  # fmt: skip
REF_SR_PARAMS = [
    "large_size", "small_size", "class_cond", "learn_sigma", "num_channels", "num_res_blocks", "num_heads",
    "num_head_channels", "num_heads_upsample", "attention_resolutions", "dropout", "diffusion_steps",
    "noise_schedule", "timestep_respacing", "use_kl", "predict_xstart", "rescale_timesteps",
    "rescale_learned_sigmas", "use_checkpoint", "use_scale_shift_norm", "resblock_updown", "use_fp16",
]  # fmt: skip


def _params(fn: object) -> list[str]:
    return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]


#----------------------------------------------------------------------------
# Defaults.


def test_default_dicts_match_reference_values_and_order():
    assert list(script_util.diffusion_defaults().items()) == REF_DIFFUSION
    assert list(script_util.classifier_defaults().items()) == REF_CLASSIFIER
    assert list(script_util.model_and_diffusion_defaults().items()) == REF_MODEL + REF_DIFFUSION
    # update() keeps image_size's first position; diffusion keys follow.
    assert list(script_util.classifier_and_diffusion_defaults().items()) == REF_CLASSIFIER + REF_DIFFUSION


def test_sr_defaults_are_model_defaults_filtered_to_sr_parameters():
    expected = {k: v for k, v in REF_MODEL + REF_DIFFUSION if k in REF_SR_PARAMS}
    expected.update(large_size=256, small_size=64)
    got = script_util.sr_model_and_diffusion_defaults()
    assert got == expected
    assert set(got) == set(REF_SR_PARAMS)
    assert not {"image_size", "channel_mult", "use_new_attention_order"} & set(got)


def test_the_three_default_layers_disagree_as_in_the_reference():
    """Dict defaults (what a script uses) differ from create_model's keyword defaults."""
    signature = inspect.signature(script_util.create_model)
    kwargs = {n: p.default for n, p in signature.parameters.items() if p.default is not inspect.Parameter.empty}
    assert kwargs == REF_CREATE_MODEL_KWARGS
    dict_defaults = script_util.model_and_diffusion_defaults()
    for key, (dict_value, kw_value) in {"num_heads": (4, 1), "attention_resolutions": ("16,8", "16"),
                                        "use_scale_shift_norm": (True, False)}.items():
        assert dict_defaults[key] == dict_value and kwargs[key] == kw_value
    # and the classifier family uses yet other attention/norm choices.
    assert script_util.classifier_defaults()["classifier_attention_resolutions"] == "32,16,8"


def test_default_dicts_are_fresh_copies():
    first = script_util.model_and_diffusion_defaults()
    first["num_channels"] = 1
    assert script_util.model_and_diffusion_defaults()["num_channels"] == 128


def test_factory_parameters_are_the_dict_keys_in_reference_order():
    assert _params(script_util.create_model_and_diffusion) == REF_CREATE_MODEL_AND_DIFFUSION_PARAMS
    assert set(REF_CREATE_MODEL_AND_DIFFUSION_PARAMS) == set(script_util.model_and_diffusion_defaults())
    assert _params(script_util.create_classifier_and_diffusion) == [k for k, _ in REF_CLASSIFIER + REF_DIFFUSION]
    assert _params(script_util.sr_create_model_and_diffusion) == REF_SR_PARAMS


def test_num_classes_is_imagenets():
    assert script_util.NUM_CLASSES == 1000


#----------------------------------------------------------------------------
# Factory semantics (tiny networks).


def _flags(**overrides: object) -> dict[str, object]:
    flags = script_util.model_and_diffusion_defaults()
    flags.update(num_channels=32, num_res_blocks=1)
    flags.update(overrides)
    return flags


def test_dict_defaults_reach_the_unet():
    model, diffusion = script_util.create_model_and_diffusion(**_flags())
    cfg = model.config
    assert isinstance(model, UNet)
    assert cfg.image_size == 64 and cfg.channel_mult == (1, 2, 3, 4)  # "" -> the 64x64 table row
    assert cfg.attention_resolutions == (16, 8) and cfg.num_heads == 4
    assert cfg.norm is NormType.ADAGN and cfg.num_classes is None and cfg.attention_order is AttentionOrder.LEGACY
    assert cfg.model_out_channels == 3
    # linear betas scaled to 1000 steps: 1e-4 .. 0.02; fixed-large variance, epsilon prediction, plain MSE.
    np.testing.assert_allclose(diffusion.betas, np.linspace(1e-4, 0.02, 1000), rtol=1e-12)
    assert diffusion.num_timesteps == 1000
    assert diffusion.model_var_type is ModelVarType.FIXED_LARGE
    assert diffusion.model_mean_type is ModelMeanType.EPSILON and diffusion.loss_type is LossType.MSE


@pytest.mark.parametrize(
    ("overrides", "var", "mean", "loss", "steps"),
    [
        ({"learn_sigma": True, "timestep_respacing": "ddim5"}, ModelVarType.LEARNED_RANGE, ModelMeanType.EPSILON,
         LossType.MSE, [0, 200, 400, 600, 800]),
        ({"use_kl": True, "rescale_learned_sigmas": True, "timestep_respacing": "4"}, ModelVarType.FIXED_LARGE,
         ModelMeanType.EPSILON, LossType.RESCALED_KL, [0, 333, 666, 999]),
        ({"predict_xstart": True, "rescale_learned_sigmas": True, "timestep_respacing": "2"}, ModelVarType.FIXED_LARGE,
         ModelMeanType.START_X, LossType.RESCALED_MSE, [0, 999]),
    ],
)
def test_diffusion_flags(overrides: dict[str, object], var: ModelVarType, mean: ModelMeanType, loss: LossType,
                         steps: list[int]):
    flags = _flags(image_size=32, channel_mult="1,2", attention_resolutions="16", **overrides)
    model, diffusion = script_util.create_model_and_diffusion(**flags)
    assert diffusion.model_var_type is var and diffusion.model_mean_type is mean and diffusion.loss_type is loss
    assert diffusion.timestep_map == steps and diffusion.num_timesteps == len(steps)
    assert model.config.model_out_channels == (6 if overrides.get("learn_sigma") else 3)


def test_model_flags_reach_the_unet():
    model, _ = script_util.create_model_and_diffusion(**_flags(
        image_size=32, channel_mult="1,2", class_cond=True, attention_resolutions="16", num_head_channels=16,
        use_scale_shift_norm=False, use_new_attention_order=True, dropout=0.1, resblock_updown=True))
    cfg = model.config
    assert cfg.channel_mult == (1, 2) and cfg.num_classes == 1000 and cfg.attention_resolutions == (16,)
    assert cfg.num_head_channels == 16 and cfg.norm is NormType.ADDITION_GROUPNORM
    assert cfg.attention_order is AttentionOrder.NEW and cfg.dropout == 0.1 and cfg.resblock_updown
    out = model.eval()(torch.zeros(2, 3, 32, 32), torch.tensor([0, 5]), torch.tensor([1, 999]))
    assert out.shape == (2, 3, 32, 32)


def test_classifier_and_diffusion():
    flags = script_util.classifier_and_diffusion_defaults()
    flags.update(classifier_width=64, classifier_depth=1, timestep_respacing="10")  # heads of 64 channels
    classifier, diffusion = script_util.create_classifier_and_diffusion(**flags)
    cfg = classifier.config
    assert isinstance(classifier, NoisyClassifier)
    assert cfg.attention_resolutions == (32, 16, 8) and cfg.pool is Pooling.ATTENTION and cfg.resblock_updown
    assert cfg.norm is NormType.ADAGN and cfg.num_classes == 1000 and cfg.num_head_channels == 64
    assert diffusion.num_timesteps == 10 and diffusion.original_num_steps == 1000


def test_super_resolution_model_and_diffusion():
    flags = script_util.sr_model_and_diffusion_defaults()
    flags.update(large_size=64, small_size=32, num_channels=32, num_res_blocks=1, attention_resolutions="8",
                 num_heads=1, class_cond=True, learn_sigma=True)
    model, diffusion = script_util.sr_create_model_and_diffusion(**flags)
    assert isinstance(model, SuperResUNet) and model.config.channel_mult == (1, 2, 3, 4)
    out = model.eval()(torch.zeros(1, 3, 64, 64), torch.tensor([3]), low_res=torch.zeros(1, 3, 32, 32),
                       y=torch.tensor([7]))
    assert out.shape == (1, 6, 64, 64)
    assert diffusion.model_var_type is ModelVarType.LEARNED_RANGE


def test_unsupported_image_size_without_channel_mult():
    with pytest.raises(ValueError, match="unsupported image size"):
        script_util.create_model_and_diffusion(**_flags(image_size=48))


#----------------------------------------------------------------------------
# argparse helpers.


@pytest.mark.parametrize("text", ["yes", "TRUE", "t", "Y", "1", "True"])
def test_str2bool_true(text: str):
    assert script_util.str2bool(text) is True


@pytest.mark.parametrize("text", ["no", "False", "F", "n", "0"])
def test_str2bool_false(text: str):
    assert script_util.str2bool(text) is False


@pytest.mark.parametrize("text", ["", "2", "maybe", "on"])
def test_str2bool_rejects(text: str):
    with pytest.raises(argparse.ArgumentTypeError):
        script_util.str2bool(text)


def test_str2bool_passes_bools_through():
    assert script_util.str2bool(True) is True and script_util.str2bool(False) is False


def test_add_dict_to_argparser_types_flags_by_their_defaults():
    parser = argparse.ArgumentParser()
    script_util.add_dict_to_argparser(parser, {"count": 3, "rate": 0.5, "name": "a,b", "flag": False, "opt": None})
    args = parser.parse_args(["--count", "7", "--rate", "1e-3", "--name", "32,16", "--flag", "yes", "--opt", "x"])
    assert (args.count, args.rate, args.name, args.flag, args.opt) == (7, 1e-3, "32,16", True, "x")
    assert type(args.count) is int and type(args.rate) is float
    defaults = parser.parse_args([])
    assert (defaults.count, defaults.rate, defaults.name, defaults.flag, defaults.opt) == (3, 0.5, "a,b", False, None)


@pytest.mark.parametrize("argv", [["--flag", "perhaps"], ["--count", "2.5"]])
def test_add_dict_to_argparser_rejects_bad_values(argv: list[str]):
    parser = argparse.ArgumentParser()
    script_util.add_dict_to_argparser(parser, {"count": 3, "flag": False})
    with pytest.raises(SystemExit) as info:
        parser.parse_args(argv)
    assert info.value.code == 2


def test_args_to_dict_round_trip_into_the_factory():
    parser = argparse.ArgumentParser()
    script_util.add_dict_to_argparser(parser, {"extra": 1, **script_util.model_and_diffusion_defaults()})
    args = parser.parse_args(["--image_size", "32", "--channel_mult", "1,2", "--num_channels", "32",
                              "--num_res_blocks", "1", "--attention_resolutions", "16", "--class_cond", "True",
                              "--timestep_respacing", "ddim3"])
    flags = script_util.args_to_dict(args, script_util.model_and_diffusion_defaults().keys())
    assert "extra" not in flags and flags["class_cond"] is True
    model, diffusion = script_util.create_model_and_diffusion(**flags)
    assert model.config.num_classes == 1000 and diffusion.num_timesteps == 3
    with pytest.raises(AttributeError):
        script_util.args_to_dict(args, ["missing"])
