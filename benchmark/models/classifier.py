"""The noisy classifier p(y | x_t, t) used for classifier guidance (paper §4.1; reference EncoderUNetModel)."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.models.config import ClassifierConfig, Pooling, Precision
from benchmark.models.layers import (
    ATTENTION_IMPLS,
    AttentionBlock,
    AttentionImpl,
    AttentionPool2d,
    Downsample,
    ResBlock,
    TimestepEmbedSequential,
    convert_convs,
    normalization,
    timestep_embedding,
    zero_module,
)

#: Hidden width of the MLP heads of the spatial pooling variants (as in the reference).
SPATIAL_HIDDEN = 2048


class NoisyClassifier(nn.Module):
    """The UNet's encoder half and middle block, then a pooling head: forward(x, timesteps) -> logits [N, K]."""

    def __init__(self, config: ClassifierConfig, attention_impl: AttentionImpl = "sdpa") -> None:
        super().__init__()
        if attention_impl not in ATTENTION_IMPLS:
            raise ValueError(f"attention_impl must be one of {ATTENTION_IMPLS}, got {attention_impl!r}")
        cfg = config
        self.config = cfg
        self.attention_impl = attention_impl
        self.model_channels = cfg.model_channels
        self.dtype = cfg.dtype.torch_dtype
        self.pool = cfg.pool
        emb_ch = 4 * cfg.model_channels

        def res(ch_in: int, ch_out: int | None = None, down: bool = False) -> ResBlock:
            return ResBlock(
                ch_in, emb_ch, cfg.dropout, ch_out, cfg.norm, down=down,
                rescale_skip=cfg.rescale_skip, use_checkpoint=cfg.use_checkpoint,
            )  # fmt: skip

        def attn(ch: int) -> AttentionBlock:
            return AttentionBlock(
                ch, cfg.num_heads, cfg.num_head_channels, cfg.attention_order, attention_impl, cfg.use_checkpoint
            )

        self.time_embed = nn.Sequential(nn.Linear(cfg.model_channels, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch))

        chans = cfg.level_channels
        ch = chans[0]
        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(cfg.in_channels, ch, 3, padding=1))])
        feature_size = ch  # channels of all block outputs, concatenated by the spatial heads
        res_px = cfg.image_size
        for level, level_ch in enumerate(chans):
            for _ in range(cfg.num_res_blocks):
                layers: list[nn.Module] = [res(ch, level_ch)]
                ch = level_ch
                if res_px in cfg.attention_resolutions:
                    layers.append(attn(ch))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                feature_size += ch
            if level != len(chans) - 1:
                down = res(ch, ch, down=True) if cfg.resblock_updown else Downsample(ch, cfg.conv_resample)
                self.input_blocks.append(TimestepEmbedSequential(down))
                feature_size += ch
                res_px //= 2
        self.middle_block = TimestepEmbedSequential(res(ch), attn(ch), res(ch))
        feature_size += ch

        self.out: nn.Sequential
        if cfg.pool is Pooling.ADAPTIVE:
            self.out = nn.Sequential(
                normalization(ch), nn.SiLU(), nn.AdaptiveAvgPool2d((1, 1)),
                zero_module(nn.Conv2d(ch, cfg.num_classes, 1)), nn.Flatten(),
            )  # fmt: skip
        elif cfg.pool is Pooling.ATTENTION:
            assert cfg.num_head_channels is not None  # validated by ClassifierConfig
            pool = AttentionPool2d(res_px, ch, cfg.num_head_channels, cfg.num_classes, attention_impl)
            self.out = nn.Sequential(normalization(ch), nn.SiLU(), pool)
        elif cfg.pool is Pooling.SPATIAL:
            self.out = nn.Sequential(
                nn.Linear(feature_size, SPATIAL_HIDDEN), nn.ReLU(), nn.Linear(SPATIAL_HIDDEN, cfg.num_classes)
            )
        else:
            self.out = nn.Sequential(
                nn.Linear(feature_size, SPATIAL_HIDDEN), normalization(SPATIAL_HIDDEN), nn.SiLU(),
                nn.Linear(SPATIAL_HIDDEN, cfg.num_classes),
            )  # fmt: skip

    def convert_to_fp16(self) -> None:
        """Cast the torso's convolutions to the config's half dtype (the pooling head stays float32)."""
        dtype = torch.bfloat16 if self.config.dtype is Precision.BF16 else torch.float16
        for part in (self.input_blocks, self.middle_block):
            convert_convs(part, dtype)

    def convert_to_fp32(self) -> None:
        for part in (self.input_blocks, self.middle_block):
            convert_convs(part, torch.float32)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels))
        spatial = self.pool in (Pooling.SPATIAL, Pooling.SPATIAL_V2)
        means = []
        h = x.type(self.dtype)
        for block in self.input_blocks:
            h = block(h, emb)
            if spatial:
                means.append(h.type(x.dtype).mean(dim=(2, 3)))
        h = self.middle_block(h, emb)
        if spatial:
            means.append(h.type(x.dtype).mean(dim=(2, 3)))
            return self.out(torch.cat(means, dim=-1))
        return self.out(h.type(x.dtype))
