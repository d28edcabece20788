"""Drop-in guided-diffusion model constructors (script_util.create_model / create_classifier / sr_create_model).

Same keyword flags, defaults and meanings as the reference functions; the flags are translated once into the
native frozen configs and native modules are returned. String flags keep their reference formats:
`attention_resolutions="32,16,8"` (pixels), `channel_mult=""` (image-size default) or `"1,1,2,3,4"`.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from benchmark.errors import InputError
from benchmark.models.classifier import NoisyClassifier
from benchmark.models.config import AttentionOrder, ClassifierConfig, NormType, Pooling, Precision, UNetConfig
from benchmark.models.unet import SuperResUNet, UNet

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
    config = unet_config_from_flags(
        large_size, num_channels, num_res_blocks, "", learn_sigma, class_cond, use_checkpoint,
        attention_resolutions, num_heads, num_head_channels, num_heads_upsample, use_scale_shift_norm,
        dropout, resblock_updown, use_fp16, False,
    )  # fmt: skip
    mult = _default_mult(_SR_CHANNEL_MULT, large_size, "large size")
    return SuperResUNet(UNetConfig.from_dict({**config.to_dict(), "channel_mult": list(mult)}))


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


def released_models() -> dict[str, dict[str, Any]]:
    """The released checkpoints: name -> {"kind": unet|super_res|classifier, "url", "flags"} (packaged data)."""
    text = resources.files("benchmark.models").joinpath("released_configs.json").read_text(encoding="utf-8")
    return dict(json.loads(text)["models"])


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
