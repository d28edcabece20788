"""Drop-in guided-diffusion model constructors (script_util.create_model / create_classifier / sr_create_model).

Same keyword flags, defaults and meanings as the reference functions; the flags are translated into the native
frozen configs by `benchmark.models.released` (the one translation) and native modules are returned. String flags keep their reference formats:
`attention_resolutions="32,16,8"` (pixels), `channel_mult=""` (image-size default) or `"1,1,2,3,4"`.
"""

from __future__ import annotations

from benchmark.errors import InputError
from benchmark.models.classifier import NoisyClassifier
from benchmark.models.released import (
    NUM_CLASSES,
    classifier_config_from_flags,
    released_models,
    sr_unet_config_from_flags,
    unet_config_from_flags,
)
from benchmark.models.unet import SuperResUNet, UNet

__all__ = [
    "NUM_CLASSES",
    "classifier_config_from_flags",
    "create_classifier",
    "create_model",
    "create_released",
    "released_models",
    "sr_create_model",
    "unet_config_from_flags",
]

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


# ----------------------------------------------------------------------------------------------------------------
# Released checkpoints.


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
