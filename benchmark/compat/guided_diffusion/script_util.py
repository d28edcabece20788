"""Drop-in guided_diffusion.script_util: default flag dicts, argparse helpers and the model+diffusion factories.

Names, defaults and meanings are those of the reference, including its known quirk that the three default layers
disagree: `model_and_diffusion_defaults()` says num_heads=4, attention_resolutions="16,8",
use_scale_shift_norm=True, while `create_model`'s own keyword defaults are 1, "16" and False. Scripts build their
argparse from the dicts, so the dict values are what a flag-less run uses. Models are the native
`benchmark.models` modules (UNet, SuperResUNet, NoisyClassifier); diffusions are `respace.SpacedDiffusion`.
The flags are translated into the native frozen configs by `benchmark.models.released` (the one translation);
string flags keep their reference formats: `attention_resolutions="32,16,8"` (pixels), `channel_mult=""`
(image-size default) or `"1,1,2,3,4"`.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from benchmark.compat.guided_diffusion.gaussian_diffusion import get_named_beta_schedule
from benchmark.compat.guided_diffusion.respace import SpacedDiffusion, space_timesteps
from benchmark.errors import InputError
from benchmark.models.classifier import NoisyClassifier
from benchmark.models.released import (
    NUM_CLASSES,
    classifier_and_diffusion_defaults,
    classifier_config_from_flags,
    classifier_defaults,
    diffusion_defaults,
    diffusion_kinds_from_flags,
    model_and_diffusion_defaults,
    released_models,
    sr_unet_config_from_flags,
    unet_config_from_flags,
)
from benchmark.models.unet import SuperResUNet, UNet

__all__ = [
    "NUM_CLASSES",
    "add_dict_to_argparser",
    "args_to_dict",
    "classifier_and_diffusion_defaults",
    "classifier_defaults",
    "create_classifier",
    "create_classifier_and_diffusion",
    "create_gaussian_diffusion",
    "create_model",
    "create_model_and_diffusion",
    "create_released",
    "diffusion_defaults",
    "model_and_diffusion_defaults",
    "released_models",
    "sr_create_model",
    "sr_create_model_and_diffusion",
    "sr_model_and_diffusion_defaults",
    "str2bool",
]

#----------------------------------------------------------------------------
# Default flag dicts: the reference's, kept with the flag translation (benchmark.models.released).


def sr_model_and_diffusion_defaults() -> dict[str, Any]:
    """model_and_diffusion_defaults() restricted to sr_create_model_and_diffusion's parameters, plus
    large_size=256 and small_size=64 (image_size, channel_mult and use_new_attention_order are dropped)."""
    flags = model_and_diffusion_defaults()
    flags["large_size"] = 256
    flags["small_size"] = 64
    accepted = inspect.signature(sr_create_model_and_diffusion).parameters
    return {key: value for key, value in flags.items() if key in accepted}


#----------------------------------------------------------------------------
# Factories.


def create_model(
    image_size: int,
    num_channels: int,
    num_res_blocks: int,
    channel_mult: str = "",
    learn_sigma: bool = False,
    class_cond: bool = False,
    use_checkpoint: bool = False,
    attention_resolutions: str = "16",
    num_heads: int = 1,
    num_head_channels: int = -1,
    num_heads_upsample: int = -1,
    use_scale_shift_norm: bool = False,
    dropout: float = 0,
    resblock_updown: bool = False,
    use_fp16: bool = False,
    use_new_attention_order: bool = False,
) -> UNet:
    """guided_diffusion.script_util.create_model: float32 weights; `use_fp16` sets model.dtype, and
    model.convert_to_fp16() casts the torso's convolutions (as the reference scripts call it)."""
    return UNet(
        unet_config_from_flags(
            image_size, num_channels, num_res_blocks, channel_mult, learn_sigma, class_cond, use_checkpoint,
            attention_resolutions, num_heads, num_head_channels, num_heads_upsample, use_scale_shift_norm,
            dropout, resblock_updown, use_fp16, use_new_attention_order,
        )  # fmt: skip
    )


def sr_create_model(
    large_size: int,
    small_size: int,
    num_channels: int,
    num_res_blocks: int,
    learn_sigma: bool,
    class_cond: bool,
    use_checkpoint: bool,
    attention_resolutions: str,
    num_heads: int,
    num_head_channels: int,
    num_heads_upsample: int,
    use_scale_shift_norm: bool,
    dropout: float,
    resblock_updown: bool,
    use_fp16: bool,
) -> SuperResUNet:
    """guided_diffusion.script_util.sr_create_model (all arguments required, as in the reference)."""
    _ = small_size  # the reference ignores it too: the low-res input is resized to x's size
    return SuperResUNet(
        sr_unet_config_from_flags(
            large_size, num_channels, num_res_blocks, learn_sigma, class_cond, use_checkpoint, attention_resolutions,
            num_heads, num_head_channels, num_heads_upsample, use_scale_shift_norm, dropout, resblock_updown, use_fp16,
        )  # fmt: skip
    )


def create_classifier(
    image_size: int,
    classifier_use_fp16: bool,
    classifier_width: int,
    classifier_depth: int,
    classifier_attention_resolutions: str,
    classifier_use_scale_shift_norm: bool,
    classifier_resblock_updown: bool,
    classifier_pool: str,
) -> NoisyClassifier:
    """guided_diffusion.script_util.create_classifier (all arguments required, as in the reference)."""
    return NoisyClassifier(
        classifier_config_from_flags(
            image_size, classifier_use_fp16, classifier_width, classifier_depth, classifier_attention_resolutions,
            classifier_use_scale_shift_norm, classifier_resblock_updown, classifier_pool,
        )  # fmt: skip
    )


def create_released(name: str) -> UNet | NoisyClassifier:
    """Build the (randomly initialised) network of a released checkpoint by name, e.g. "256x256_diffusion"."""
    models = released_models()
    if name not in models:
        raise InputError(f"unknown released model {name!r}; choose from {sorted(models)}")
    entry = models[name]
    flags = entry["flags"]
    if entry["kind"] == "unet":
        return create_model(**flags)
    if entry["kind"] == "super_res":
        return sr_create_model(**flags)
    return create_classifier(**flags)


def create_gaussian_diffusion(
    *,
    steps: int = 1000,
    learn_sigma: bool = False,
    sigma_small: bool = False,
    noise_schedule: str = "linear",
    use_kl: bool = False,
    predict_xstart: bool = False,
    rescale_timesteps: bool = False,
    rescale_learned_sigmas: bool = False,
    timestep_respacing: str | Sequence[int] = "",
) -> SpacedDiffusion:
    """guided_diffusion.script_util.create_gaussian_diffusion with the same flags and meanings."""
    betas = get_named_beta_schedule(noise_schedule, steps)
    mean_type, var_type, loss_type = diffusion_kinds_from_flags(
        learn_sigma, sigma_small, use_kl, predict_xstart, rescale_learned_sigmas
    )
    return SpacedDiffusion(
        space_timesteps(steps, timestep_respacing or [steps]),
        betas=betas,
        model_mean_type=mean_type,
        model_var_type=var_type,
        loss_type=loss_type,
        rescale_timesteps=rescale_timesteps,
    )


def _diffusion(
    diffusion_steps: int,
    learn_sigma: bool,
    noise_schedule: str,
    timestep_respacing: str,
    use_kl: bool,
    predict_xstart: bool,
    rescale_timesteps: bool,
    rescale_learned_sigmas: bool,
) -> SpacedDiffusion:
    # The reference never forwards sigma_small from the flag dicts: it stays False (fixed-large variance).
    return create_gaussian_diffusion(
        steps=diffusion_steps,
        learn_sigma=learn_sigma,
        noise_schedule=noise_schedule,
        use_kl=use_kl,
        predict_xstart=predict_xstart,
        rescale_timesteps=rescale_timesteps,
        rescale_learned_sigmas=rescale_learned_sigmas,
        timestep_respacing=timestep_respacing,
    )


def create_model_and_diffusion(
    image_size: int,
    class_cond: bool,
    learn_sigma: bool,
    num_channels: int,
    num_res_blocks: int,
    channel_mult: str,
    num_heads: int,
    num_head_channels: int,
    num_heads_upsample: int,
    attention_resolutions: str,
    dropout: float,
    diffusion_steps: int,
    noise_schedule: str,
    timestep_respacing: str,
    use_kl: bool,
    predict_xstart: bool,
    rescale_timesteps: bool,
    rescale_learned_sigmas: bool,
    use_checkpoint: bool,
    use_scale_shift_norm: bool,
    resblock_updown: bool,
    use_fp16: bool,
    use_new_attention_order: bool,
) -> tuple[UNet, SpacedDiffusion]:
    """(UNet, SpacedDiffusion) from the model_and_diffusion_defaults() keys (all required, as in the reference)."""
    model = create_model(
        image_size,
        num_channels,
        num_res_blocks,
        channel_mult=channel_mult,
        learn_sigma=learn_sigma,
        class_cond=class_cond,
        use_checkpoint=use_checkpoint,
        attention_resolutions=attention_resolutions,
        num_heads=num_heads,
        num_head_channels=num_head_channels,
        num_heads_upsample=num_heads_upsample,
        use_scale_shift_norm=use_scale_shift_norm,
        dropout=dropout,
        resblock_updown=resblock_updown,
        use_fp16=use_fp16,
        use_new_attention_order=use_new_attention_order,
    )
    diffusion = _diffusion(diffusion_steps, learn_sigma, noise_schedule, timestep_respacing, use_kl, predict_xstart,
                           rescale_timesteps, rescale_learned_sigmas)
    return model, diffusion


def create_classifier_and_diffusion(
    image_size: int,
    classifier_use_fp16: bool,
    classifier_width: int,
    classifier_depth: int,
    classifier_attention_resolutions: str,
    classifier_use_scale_shift_norm: bool,
    classifier_resblock_updown: bool,
    classifier_pool: str,
    learn_sigma: bool,
    diffusion_steps: int,
    noise_schedule: str,
    timestep_respacing: str,
    use_kl: bool,
    predict_xstart: bool,
    rescale_timesteps: bool,
    rescale_learned_sigmas: bool,
) -> tuple[NoisyClassifier, SpacedDiffusion]:
    """(NoisyClassifier, SpacedDiffusion) from the classifier_and_diffusion_defaults() keys."""
    classifier = create_classifier(
        image_size,
        classifier_use_fp16,
        classifier_width,
        classifier_depth,
        classifier_attention_resolutions,
        classifier_use_scale_shift_norm,
        classifier_resblock_updown,
        classifier_pool,
    )
    diffusion = _diffusion(diffusion_steps, learn_sigma, noise_schedule, timestep_respacing, use_kl, predict_xstart,
                           rescale_timesteps, rescale_learned_sigmas)
    return classifier, diffusion


def sr_create_model_and_diffusion(
    large_size: int,
    small_size: int,
    class_cond: bool,
    learn_sigma: bool,
    num_channels: int,
    num_res_blocks: int,
    num_heads: int,
    num_head_channels: int,
    num_heads_upsample: int,
    attention_resolutions: str,
    dropout: float,
    diffusion_steps: int,
    noise_schedule: str,
    timestep_respacing: str,
    use_kl: bool,
    predict_xstart: bool,
    rescale_timesteps: bool,
    rescale_learned_sigmas: bool,
    use_checkpoint: bool,
    use_scale_shift_norm: bool,
    resblock_updown: bool,
    use_fp16: bool,
) -> tuple[SuperResUNet, SpacedDiffusion]:
    """(SuperResUNet, SpacedDiffusion) from the sr_model_and_diffusion_defaults() keys."""
    model = sr_create_model(
        large_size,
        small_size,
        num_channels,
        num_res_blocks,
        learn_sigma=learn_sigma,
        class_cond=class_cond,
        use_checkpoint=use_checkpoint,
        attention_resolutions=attention_resolutions,
        num_heads=num_heads,
        num_head_channels=num_head_channels,
        num_heads_upsample=num_heads_upsample,
        use_scale_shift_norm=use_scale_shift_norm,
        dropout=dropout,
        resblock_updown=resblock_updown,
        use_fp16=use_fp16,
    )
    diffusion = _diffusion(diffusion_steps, learn_sigma, noise_schedule, timestep_respacing, use_kl, predict_xstart,
                           rescale_timesteps, rescale_learned_sigmas)
    return model, diffusion


#----------------------------------------------------------------------------
# argparse helpers.


def str2bool(v: str | bool) -> bool:
    """Parse yes/true/t/y/1 and no/false/f/n/0 (any case); anything else is an argparse type error."""
    if isinstance(v, bool):
        return v
    text = v.lower()
    if text in ("yes", "true", "t", "y", "1"):
        return True
    if text in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError("boolean value expected")


def add_dict_to_argparser(parser: argparse.ArgumentParser, default_dict: Mapping[str, Any]) -> None:
    """Add `--key` for every entry, typed by its default: bool -> str2bool, None -> str, else type(default)."""
    for key, value in default_dict.items():
        if value is None:
            value_type: Any = str
        elif isinstance(value, bool):
            value_type = str2bool
        else:
            value_type = type(value)
        parser.add_argument(f"--{key}", default=value, type=value_type)


def args_to_dict(args: argparse.Namespace, keys: Iterable[str]) -> dict[str, Any]:
    """{key: args.key} for the given keys (a missing key raises AttributeError, as in the reference)."""
    return {key: getattr(args, key) for key in keys}
