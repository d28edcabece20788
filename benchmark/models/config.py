"""Frozen, validated configurations of the ADM UNet and the noisy classifier (paper §3, Tables 1-3, 11-12).

Resolutions are given in pixels (feature-map side length), never as downsampling rates; optional values are
`None`, never `-1`; string choices are enums. `from_dict` refuses unknown keys and every impossible
combination raises one `InputError` naming the problem.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import torch

from benchmark.config import ConfigBase
from benchmark.errors import InputError

#: GroupNorm group count used by every normalisation layer (as in the reference implementation).
NORM_GROUPS = 32


class NormType(enum.Enum):
    """How the timestep/class embedding enters a residual block (paper Table 3)."""

    ADAGN = "adagn"  # GroupNorm(h) * (1 + scale) + shift ("use_scale_shift_norm")
    ADDITION_GROUPNORM = "addition_groupnorm"  # GroupNorm(h + emb) (Ho et al.)


class AttentionOrder(enum.Enum):
    """How the fused qkv projection is split (reference QKVAttentionLegacy vs QKVAttention)."""

    LEGACY = "legacy"  # split heads first, then q/k/v within each head
    NEW = "new"  # split q/k/v first, then heads ("use_new_attention_order")


class Pooling(enum.Enum):
    """Classifier head (reference EncoderUNetModel `pool`)."""

    ATTENTION = "attention"  # CLIP-style attention pooling (the released classifiers)
    ADAPTIVE = "adaptive"  # GroupNorm, SiLU, global average pool, 1x1 conv
    SPATIAL = "spatial"  # spatial means of every block, MLP with ReLU
    SPATIAL_V2 = "spatial_v2"  # as SPATIAL with GroupNorm + SiLU in the MLP


class Precision(enum.Enum):
    """Dtype of the network torso (input/middle/output blocks); norms and embeddings stay float32."""

    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"

    @property
    def torch_dtype(self) -> torch.dtype:
        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self.value]


# ----------------------------------------------------------------------------------------------------------------
# Validation helpers shared by both configs.


def _level_channels(model_channels: int, channel_mult: tuple[float, ...]) -> list[int]:
    """Channel count of each resolution level; the product must be a whole number (0.5 x 256 = 128)."""
    out = []
    for mult in channel_mult:
        ch = mult * model_channels
        if mult <= 0 or ch != int(ch):
            raise InputError(f"channel_mult {mult} x model_channels {model_channels} is not a positive whole number")
        out.append(int(ch))
    return out


def _check_common(
    name: str,
    image_size: int,
    in_channels: int,
    model_channels: int,
    channel_mult: tuple[float, ...],
    num_res_blocks: int,
    attention_resolutions: tuple[int, ...],
    num_heads: int,
    num_head_channels: int | None,
    dropout: float,
) -> list[int]:
    """Checks shared by UNetConfig and ClassifierConfig; returns the per-level channel counts."""
    if image_size < 1 or in_channels < 1 or model_channels < 1:
        raise InputError(f"{name}: image_size, in_channels and model_channels must be positive")
    if not channel_mult:
        raise InputError(f"{name}: channel_mult must name at least one level")
    if num_res_blocks < 1:
        raise InputError(f"{name}: num_res_blocks must be >= 1, got {num_res_blocks}")
    if not 0.0 <= dropout < 1.0:
        raise InputError(f"{name}: dropout must be in [0, 1), got {dropout}")
    levels = len(channel_mult)
    if image_size % (2 ** (levels - 1)):
        raise InputError(
            f"{name}: image_size {image_size} cannot be halved {levels - 1} times (one per channel_mult level)"
        )
    chans = _level_channels(model_channels, channel_mult)
    for ch in chans:
        if ch % NORM_GROUPS:
            raise InputError(f"{name}: level width {ch} is not divisible by the {NORM_GROUPS} GroupNorm groups")
    resolutions = [image_size // 2**i for i in range(levels)]
    for res in attention_resolutions:
        if res not in resolutions:
            raise InputError(
                f"{name}: attention resolution {res} px is not in the network (its resolutions are {resolutions})"
            )
    if len(set(attention_resolutions)) != len(attention_resolutions):
        raise InputError(f"{name}: attention_resolutions has duplicates: {list(attention_resolutions)}")
    if num_heads < 1:
        raise InputError(f"{name}: num_heads must be >= 1, got {num_heads}")
    if num_head_channels is not None and num_head_channels < 1:
        raise InputError(f"{name}: num_head_channels must be >= 1 or null, got {num_head_channels}")
    return chans


def _check_heads(name: str, width: int, heads: int, head_channels: int | None, where: str) -> None:
    if head_channels is not None:
        if width % head_channels:
            raise InputError(
                f"{name}: {where} has {width} channels, not divisible by num_head_channels {head_channels}"
            )
    elif width % heads:
        raise InputError(f"{name}: {where} has {width} channels, not divisible by {heads} heads")


# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UNetConfig(ConfigBase):
    """The ADM denoising UNet. Defaults: the paper's improved architecture (§3) at 64x64, unconditional."""

    image_size: int = 64  # Side length of the (square) input in pixels.
    in_channels: int = 3  # Image channels.
    out_channels: int = 3  # Predicted image channels (epsilon); doubled when learn_sigma.
    learn_sigma: bool = True  # Also output the variance interpolation v (iDDPM learned Sigma): 2 x out_channels.
    model_channels: int = 128  # Base width ("num_channels").
    channel_mult: tuple[float, ...] = (1, 2, 3, 4)  # Width multiplier per resolution level (0.5 allowed).
    num_res_blocks: int = 2  # Residual blocks per resolution level ("depth").
    attention_resolutions: tuple[int, ...] = (32, 16, 8)  # Feature-map sizes in PIXELS with self-attention.
    num_heads: int = 4  # Attention heads (ignored when num_head_channels is set).
    num_head_channels: int | None = 64  # Channels per head; overrides num_heads when set (paper Table 2).
    num_heads_upsample: int | None = None  # Heads in the upsampling path when num_head_channels is None.
    resblock_updown: bool = True  # BigGAN residual blocks for up/downsampling (Table 1).
    conv_resample: bool = True  # Learned conv in plain Up/Downsample layers (when not resblock_updown).
    # Table 1 row 6 (no flag in the reference): EVERY ResBlock (encoder, middle, decoder and the BigGAN up/down
    # blocks) returns (skip(x) + h) / sqrt(2); attention blocks keep x + attn(x).
    rescale_skip: bool = False
    norm: NormType = NormType.ADAGN  # Table 3.
    dropout: float = 0.0
    num_classes: int | None = None  # Class-conditional with this many classes (label embedding added to emb).
    attention_order: AttentionOrder = AttentionOrder.LEGACY
    dtype: Precision = Precision.FP32  # Torso dtype after convert_to_fp16() (reference use_fp16).
    use_checkpoint: bool = False  # Gradient checkpointing of every ResBlock and attention block.

    def __post_init__(self) -> None:
        chans = _check_common(
            "UNetConfig", self.image_size, self.in_channels, self.model_channels, self.channel_mult,
            self.num_res_blocks, self.attention_resolutions, self.num_heads, self.num_head_channels, self.dropout,
        )  # fmt: skip
        if self.out_channels < 1:
            raise InputError(f"UNetConfig: out_channels must be positive, got {self.out_channels}")
        if self.num_classes is not None and self.num_classes < 1:
            raise InputError(f"UNetConfig: num_classes must be >= 1 or null, got {self.num_classes}")
        if self.num_heads_upsample is not None and self.num_heads_upsample < 1:
            raise InputError(f"UNetConfig: num_heads_upsample must be >= 1 or null, got {self.num_heads_upsample}")
        for level, ch in enumerate(chans):
            if self.image_size // 2**level in self.attention_resolutions:
                where = f"attention at {self.image_size // 2**level} px"
                _check_heads("UNetConfig", ch, self.num_heads, self.num_head_channels, where)
                _check_heads("UNetConfig", ch, self.heads_upsample, self.num_head_channels, where + " (upsampling)")
        _check_heads("UNetConfig", chans[-1], self.num_heads, self.num_head_channels, "the middle block attention")

    @property
    def model_out_channels(self) -> int:
        """Channels of the network output: out_channels, doubled for a learned variance."""
        return self.out_channels * (2 if self.learn_sigma else 1)

    @property
    def heads_upsample(self) -> int:
        return self.num_heads if self.num_heads_upsample is None else self.num_heads_upsample

    @property
    def level_channels(self) -> list[int]:
        return _level_channels(self.model_channels, self.channel_mult)


@dataclass(frozen=True)
class ClassifierConfig(ConfigBase):
    """The noisy ImageNet classifier used for guidance: the UNet's encoder half + a pooling head (Table 12)."""

    image_size: int = 64
    in_channels: int = 3
    num_classes: int = 1000  # Logits produced.
    model_channels: int = 128  # "classifier_width".
    channel_mult: tuple[float, ...] = (1, 2, 3, 4)
    num_res_blocks: int = 2  # "classifier_depth".
    attention_resolutions: tuple[int, ...] = (32, 16, 8)  # PIXELS.
    num_heads: int = 1
    num_head_channels: int | None = 64  # Required by attention pooling.
    resblock_updown: bool = True
    conv_resample: bool = True
    rescale_skip: bool = False
    norm: NormType = NormType.ADAGN
    dropout: float = 0.0
    attention_order: AttentionOrder = AttentionOrder.LEGACY
    pool: Pooling = Pooling.ATTENTION
    dtype: Precision = Precision.FP32
    use_checkpoint: bool = False

    def __post_init__(self) -> None:
        chans = _check_common(
            "ClassifierConfig", self.image_size, self.in_channels, self.model_channels, self.channel_mult,
            self.num_res_blocks, self.attention_resolutions, self.num_heads, self.num_head_channels, self.dropout,
        )  # fmt: skip
        if self.num_classes < 1:
            raise InputError(f"ClassifierConfig: num_classes must be >= 1, got {self.num_classes}")
        for level, ch in enumerate(chans):
            if self.image_size // 2**level in self.attention_resolutions:
                where = f"attention at {self.image_size // 2**level} px"
                _check_heads("ClassifierConfig", ch, self.num_heads, self.num_head_channels, where)
        _check_heads("ClassifierConfig", chans[-1], self.num_heads, self.num_head_channels, "the middle attention")
        if self.pool is Pooling.ATTENTION and self.num_head_channels is None:
            raise InputError("ClassifierConfig: attention pooling needs num_head_channels (channels per head)")

    @property
    def level_channels(self) -> list[int]:
        return _level_channels(self.model_channels, self.channel_mult)
