"""The ADM denoising UNet (paper §3) with guided-diffusion's checkpoint layout (released .pt files load strictly)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.models.config import Precision, UNetConfig
from benchmark.models.layers import (
    ATTENTION_IMPLS,
    AttentionBlock,
    AttentionImpl,
    Downsample,
    ResBlock,
    TimestepEmbedSequential,
    Upsample,
    convert_convs,
    normalization,
    timestep_embedding,
    zero_module,
)


def check_labels(y: torch.Tensor | None, num_classes: int | None, batch: int) -> None:
    """Labels must be given iff the model is class-conditional, one integer in [0, num_classes) per sample."""
    if num_classes is None:
        if y is not None:
            raise ValueError("this model is unconditional (num_classes is None) but labels y were given")
        return
    if y is None:
        raise ValueError(f"this model is class-conditional ({num_classes} classes): pass labels y")
    if y.shape != (batch,) or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"labels y must be an integer tensor of shape ({batch},), got {y.dtype} {tuple(y.shape)}")
    if not torch.compiler.is_compiling() and y.numel():
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"labels must lie in [0, {num_classes}), got values in [{lo}, {hi}]")


class UNet(nn.Module):
    """forward(x [N,C,H,W], timesteps [N], y [N] | None) -> [N, model_out_channels, H, W].

    `attention_impl="naive"` is the plain reference arithmetic (einsum, float32 softmax, attention recomputed in
    backward) kept as the baseline for `admbench perf` and for parity tests; "sdpa" is the fused default.
    """

    def __init__(self, config: UNetConfig, attention_impl: AttentionImpl = "sdpa") -> None:
        super().__init__()
        if attention_impl not in ATTENTION_IMPLS:
            raise ValueError(f"attention_impl must be one of {ATTENTION_IMPLS}, got {attention_impl!r}")
        cfg = config
        self.config = cfg
        self.attention_impl = attention_impl
        self.num_classes = cfg.num_classes
        self.model_channels = cfg.model_channels
        self.dtype = cfg.dtype.torch_dtype
        emb_ch = 4 * cfg.model_channels

        def res(ch_in: int, ch_out: int | None = None, up: bool = False, down: bool = False) -> ResBlock:
            return ResBlock(
                ch_in, emb_ch, cfg.dropout, ch_out, cfg.norm, up=up, down=down,
                rescale_skip=cfg.rescale_skip, use_checkpoint=cfg.use_checkpoint,
            )  # fmt: skip

        def attn(ch: int, heads: int) -> AttentionBlock:
            return AttentionBlock(
                ch, heads, cfg.num_head_channels, cfg.attention_order, attention_impl, cfg.use_checkpoint
            )

        # Timestep (and class) embedding.
        self.time_embed = nn.Sequential(
            nn.Linear(cfg.model_channels, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch)
        )
        if cfg.num_classes is not None:
            self.label_emb = nn.Embedding(cfg.num_classes, emb_ch)

        # Encoder: a stem conv, num_res_blocks ResBlocks (+ attention) per level, a downsampler between levels.
        chans = cfg.level_channels
        ch = chans[0]
        stem = nn.Conv2d(self._stem_in_channels(), ch, 3, padding=1)
        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(stem)])
        skip_chans = [ch]
        res_px = cfg.image_size
        for level, level_ch in enumerate(chans):
            for _ in range(cfg.num_res_blocks):
                layers: list[nn.Module] = [res(ch, level_ch)]
                ch = level_ch
                if res_px in cfg.attention_resolutions:
                    layers.append(attn(ch, cfg.num_heads))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skip_chans.append(ch)
            if level != len(chans) - 1:
                down = res(ch, ch, down=True) if cfg.resblock_updown else Downsample(ch, cfg.conv_resample)
                self.input_blocks.append(TimestepEmbedSequential(down))
                skip_chans.append(ch)
                res_px //= 2

        # Middle: ResBlock, attention (always), ResBlock.
        self.middle_block = TimestepEmbedSequential(res(ch), attn(ch, cfg.num_heads), res(ch))

        # Decoder: num_res_blocks + 1 ResBlocks per level, each eating one skip tensor; an upsampler between levels.
        self.output_blocks = nn.ModuleList()
        for level in reversed(range(len(chans))):
            for i in range(cfg.num_res_blocks + 1):
                layers = [res(ch + skip_chans.pop(), chans[level])]
                ch = chans[level]
                if res_px in cfg.attention_resolutions:
                    layers.append(attn(ch, cfg.heads_upsample))
                if level and i == cfg.num_res_blocks:
                    layers.append(res(ch, ch, up=True) if cfg.resblock_updown else Upsample(ch, cfg.conv_resample))
                    res_px *= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))

        self.out = nn.Sequential(
            normalization(ch), nn.SiLU(), zero_module(nn.Conv2d(chans[0], cfg.model_out_channels, 3, padding=1))
        )

    def _stem_in_channels(self) -> int:
        return self.config.in_channels

    # ------------------------------------------------------------------------------------------------------------

    def convert_to_fp16(self) -> None:
        """Cast the torso's convolutions to the config's half dtype (fp16 unless the config says bf16)."""
        dtype = torch.bfloat16 if self.config.dtype is Precision.BF16 else torch.float16
        for part in (self.input_blocks, self.middle_block, self.output_blocks):
            convert_convs(part, dtype)

    def convert_to_fp32(self) -> None:
        """Undo convert_to_fp16."""
        for part in (self.input_blocks, self.middle_block, self.output_blocks):
            convert_convs(part, torch.float32)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(y, self.num_classes, x.shape[0])
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels))
        if y is not None:
            emb = emb + self.label_emb(y)
        h = x.type(self.dtype)
        skips = []
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h.type(x.dtype))


class SuperResUNet(UNet):
    """The 64->256 / 128->512 upsampler: the UNet sees [x, bilinear-upsampled low_res] (2 x in_channels)."""

    def _stem_in_channels(self) -> int:
        return 2 * self.config.in_channels

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, timesteps: torch.Tensor, low_res: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        upsampled = F.interpolate(low_res, x.shape[2:], mode="bilinear")
        return super().forward(torch.cat([x, upsampled], dim=1), timesteps, y)
