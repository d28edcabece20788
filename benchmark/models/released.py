"""Released guided-diffusion checkpoints: their flags translated once into the native configs.

The flags keep the reference scripts' names, defaults and string formats (`attention_resolutions="32,16,8"` in
pixels, `channel_mult=""` for the image-size default); `released_configs.json` lists the released checkpoints
with the flags that build them. `benchmark.compat.guided_diffusion` (the drop-in guided-diffusion API) and the
runners both translate through this module, so a flag means one thing everywhere.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from benchmark.diffusion.config import DiffusionConfig, LossType, MeanType, Schedule, VarianceType
from benchmark.errors import InputError
from benchmark.models.config import AttentionOrder, ClassifierConfig, NormType, Pooling, Precision, UNetConfig

#: Classes of the released class-conditional models and classifiers (ImageNet).
NUM_CLASSES = 1000

#: Reference default channel multipliers by image size (script_util.create_model / create_classifier).
_CHANNEL_MULT: dict[int, tuple[float, ...]] = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
}
#: The super-resolution model's multipliers by its large size (script_util.sr_create_model).
_SR_CHANNEL_MULT: dict[int, tuple[float, ...]] = {512: (1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4), 64: (1, 2, 3, 4)}


def _parse_ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in str(text).split(","))
    except ValueError:
        raise InputError(f"{flag} must be comma-separated integers, got {text!r}") from None


def _default_mult(table: dict[int, tuple[float, ...]], size: int, what: str) -> tuple[float, ...]:
    if size not in table:
        raise ValueError(f"unsupported {what}: {size}")
    return table[size]


def unet_config_from_flags(
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
) -> UNetConfig:
    """The native UNetConfig for guided-diffusion create_model flags."""
    if channel_mult == "":
        mult = _default_mult(_CHANNEL_MULT, image_size, "image size")
    else:
        mult = _parse_ints(channel_mult, "channel_mult")  # the reference parses with int()
    return UNetConfig(
        image_size=image_size,
        in_channels=3,
        out_channels=3,
        learn_sigma=learn_sigma,
        model_channels=num_channels,
        channel_mult=mult,
        num_res_blocks=num_res_blocks,
        attention_resolutions=_parse_ints(attention_resolutions, "attention_resolutions"),
        num_heads=num_heads,
        num_head_channels=None if num_head_channels == -1 else num_head_channels,
        num_heads_upsample=None if num_heads_upsample == -1 else num_heads_upsample,
        resblock_updown=resblock_updown,
        conv_resample=True,
        rescale_skip=False,
        norm=NormType.ADAGN if use_scale_shift_norm else NormType.ADDITION_GROUPNORM,
        dropout=float(dropout),
        num_classes=NUM_CLASSES if class_cond else None,
        attention_order=AttentionOrder.NEW if use_new_attention_order else AttentionOrder.LEGACY,
        dtype=Precision.FP16 if use_fp16 else Precision.FP32,
        use_checkpoint=use_checkpoint,
    )


def sr_unet_config_from_flags(
    large_size: int,
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
) -> UNetConfig:
    """The native UNetConfig of the super-resolution model for guided-diffusion sr_create_model flags."""
    config = unet_config_from_flags(
        large_size, num_channels, num_res_blocks, "", learn_sigma, class_cond, use_checkpoint,
        attention_resolutions, num_heads, num_head_channels, num_heads_upsample, use_scale_shift_norm,
        dropout, resblock_updown, use_fp16, False,
    )  # fmt: skip
    mult = _default_mult(_SR_CHANNEL_MULT, large_size, "large size")
    return UNetConfig.from_dict({**config.to_dict(), "channel_mult": list(mult)})


def classifier_config_from_flags(
    image_size: int,
    classifier_use_fp16: bool,
    classifier_width: int,
    classifier_depth: int,
    classifier_attention_resolutions: str,
    classifier_use_scale_shift_norm: bool,
    classifier_resblock_updown: bool,
    classifier_pool: str,
) -> ClassifierConfig:
    """The native ClassifierConfig for guided-diffusion create_classifier flags."""
    pools = [p.value for p in Pooling]
    if classifier_pool not in pools:
        raise InputError(f"classifier_pool must be one of {pools}, got {classifier_pool!r}")
    return ClassifierConfig(
        image_size=image_size,
        in_channels=3,
        num_classes=NUM_CLASSES,
        model_channels=classifier_width,
        channel_mult=_default_mult(_CHANNEL_MULT, image_size, "image size"),
        num_res_blocks=classifier_depth,
        attention_resolutions=_parse_ints(classifier_attention_resolutions, "classifier_attention_resolutions"),
        num_heads=1,
        num_head_channels=64,
        resblock_updown=classifier_resblock_updown,
        conv_resample=True,
        rescale_skip=False,
        norm=NormType.ADAGN if classifier_use_scale_shift_norm else NormType.ADDITION_GROUPNORM,
        dropout=0.0,
        attention_order=AttentionOrder.LEGACY,
        pool=Pooling(classifier_pool),
        dtype=Precision.FP16 if classifier_use_fp16 else Precision.FP32,
        use_checkpoint=False,
    )


def diffusion_kinds_from_flags(
    learn_sigma: bool, sigma_small: bool, use_kl: bool, predict_xstart: bool, rescale_learned_sigmas: bool
) -> tuple[MeanType, VarianceType, LossType]:
    """Mean, variance and loss types of guided-diffusion create_gaussian_diffusion flags."""
    if use_kl:
        loss = LossType.RESCALED_KL
    elif rescale_learned_sigmas:
        loss = LossType.RESCALED_MSE
    else:
        loss = LossType.MSE
    if learn_sigma:
        var = VarianceType.LEARNED_RANGE
    else:
        var = VarianceType.FIXED_SMALL if sigma_small else VarianceType.FIXED_LARGE
    return (MeanType.START_X if predict_xstart else MeanType.EPSILON), var, loss


def diffusion_config_from_flags(flags: dict[str, Any]) -> DiffusionConfig:
    """Native DiffusionConfig for create_gaussian_diffusion flags (without respacing)."""
    mean, var, loss = diffusion_kinds_from_flags(
        flags["learn_sigma"], flags["sigma_small"], flags["use_kl"], flags["predict_xstart"],
        flags["rescale_learned_sigmas"],
    )  # fmt: skip
    try:
        schedule = Schedule(flags["noise_schedule"])
    except ValueError:
        raise InputError(f"unknown noise_schedule {flags['noise_schedule']!r}") from None
    return DiffusionConfig(
        steps=flags["diffusion_steps"],
        schedule=schedule,
        mean_type=mean,
        variance_type=var,
        loss_type=loss,
        rescale_timesteps=flags["rescale_timesteps"],
    )


# ----------------------------------------------------------------------------------------------------------------
# The reference scripts' default flag dicts (fresh dicts on every call: callers may update them).


def diffusion_defaults() -> dict[str, Any]:
    """Diffusion flags shared by image and classifier training."""
    return {
        "learn_sigma": False,
        "diffusion_steps": 1000,
        "noise_schedule": "linear",
        "timestep_respacing": "",
        "use_kl": False,
        "predict_xstart": False,
        "rescale_timesteps": False,
        "rescale_learned_sigmas": False,
    }


def classifier_defaults() -> dict[str, Any]:
    """Noisy-classifier flags (image_size is shared with the model flags when a script merges both dicts)."""
    return {
        "image_size": 64,
        "classifier_use_fp16": False,
        "classifier_width": 128,
        "classifier_depth": 2,
        "classifier_attention_resolutions": "32,16,8",
        "classifier_use_scale_shift_norm": True,
        "classifier_resblock_updown": True,
        "classifier_pool": "attention",
    }


def model_and_diffusion_defaults() -> dict[str, Any]:
    """UNet flags followed by diffusion_defaults()."""
    flags: dict[str, Any] = {
        "image_size": 64,
        "num_channels": 128,
        "num_res_blocks": 2,
        "num_heads": 4,
        "num_heads_upsample": -1,
        "num_head_channels": -1,
        "attention_resolutions": "16,8",
        "channel_mult": "",
        "dropout": 0.0,
        "class_cond": False,
        "use_checkpoint": False,
        "use_scale_shift_norm": True,
        "resblock_updown": False,
        "use_fp16": False,
        "use_new_attention_order": False,
    }
    flags.update(diffusion_defaults())
    return flags


def classifier_and_diffusion_defaults() -> dict[str, Any]:
    """classifier_defaults() followed by diffusion_defaults()."""
    flags = classifier_defaults()
    flags.update(diffusion_defaults())
    return flags


# ----------------------------------------------------------------------------------------------------------------
# Released checkpoints.


def released_models() -> dict[str, dict[str, Any]]:
    """The released checkpoints: name -> {"kind": unet|super_res|classifier, "url", "flags"} (packaged data)."""
    text = resources.files("benchmark.models").joinpath("released_configs.json").read_text(encoding="utf-8")
    return dict(json.loads(text)["models"])
