"""Building blocks of the ADM UNet and classifier (paper §3; attribute names follow guided-diffusion checkpoints).

Attribute names and the indices inside `nn.Sequential`s are part of the checkpoint format: they produce the
reference state_dict keys (`in_layers.0.weight`, `emb_layers.1.bias`, `out_layers.3.weight`, `qkv`, `proj_out`...).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from benchmark.models.config import NORM_GROUPS, AttentionOrder, NormType

AttentionImpl = Literal["sdpa", "naive"]
ATTENTION_IMPLS: tuple[str, ...] = ("sdpa", "naive")


# ----------------------------------------------------------------------------------------------------------------
# Primitives.


class GroupNorm32(nn.GroupNorm):
    """GroupNorm with float32 statistics: half inputs are upcast and cast back (as the reference does), except
    bfloat16 on CPU, whose kernel accumulates in float32 itself and takes float32 affine parameters."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32 or (x.dtype == torch.bfloat16 and x.device.type == "cpu"):
            return super().forward(x)
        return super().forward(x.float()).type(x.dtype)


def normalization(channels: int) -> GroupNorm32:
    return GroupNorm32(NORM_GROUPS, channels)


def zero_module(module: nn.Module) -> nn.Module:
    """Zero a module's parameters (output layers start as the identity / zero map)."""
    for p in module.parameters():
        p.detach().zero_()
    return module


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding [cos(t f_i), sin(t f_i)], f_i = max_period^(-i/half); timesteps may be fractional."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half)
    args = timesteps[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class TimestepEmbedSequential(nn.Sequential):
    """A Sequential that passes the embedding to the children that take one (ResBlocks)."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


# ----------------------------------------------------------------------------------------------------------------
# Resampling.


class Upsample(nn.Module):
    """Nearest-neighbour 2x upsampling, optionally followed by a 3x3 conv (`conv`)."""

    def __init__(self, channels: int, use_conv: bool) -> None:
        super().__init__()
        self.channels = channels
        if use_conv:
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.use_conv = use_conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.use_conv else x


class Downsample(nn.Module):
    """2x downsampling: a stride-2 3x3 conv or 2x2 average pooling (`op`)."""

    def __init__(self, channels: int, use_conv: bool) -> None:
        super().__init__()
        self.channels = channels
        self.op: nn.Module = nn.Conv2d(channels, channels, 3, stride=2, padding=1) if use_conv else nn.AvgPool2d(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


# ----------------------------------------------------------------------------------------------------------------
# Residual block.


class ResBlock(nn.Module):
    """Residual block conditioned on the embedding (AdaGN or addition, Table 3), optionally BigGAN up/down.

    out = skip(x) + h, or (skip(x) + h) / sqrt(2) when `rescale_skip` (Table 1 "rescale resblock").
    """

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        dropout: float,
        out_channels: int | None = None,
        norm: NormType = NormType.ADAGN,
        up: bool = False,
        down: bool = False,
        rescale_skip: bool = False,
        use_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        out_ch = out_channels or channels
        self.channels, self.out_channels = channels, out_ch
        self.scale_shift = norm is NormType.ADAGN
        self.rescale_skip = rescale_skip
        self.use_checkpoint = use_checkpoint
        self.in_layers = nn.Sequential(normalization(channels), nn.SiLU(), nn.Conv2d(channels, out_ch, 3, padding=1))
        self.updown = up or down
        self.h_upd: nn.Module
        self.x_upd: nn.Module
        if up:
            self.h_upd, self.x_upd = Upsample(channels, False), Upsample(channels, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False), Downsample(channels, False)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_ch if self.scale_shift else out_ch))
        self.out_layers = nn.Sequential(
            normalization(out_ch),
            nn.SiLU(),
            nn.Dropout(p=dropout),
            zero_module(nn.Conv2d(out_ch, out_ch, 3, padding=1)),
        )
        self.skip_connection: nn.Module = nn.Identity() if out_ch == channels else nn.Conv2d(channels, out_ch, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.use_checkpoint and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(self._forward, x, emb, use_reentrant=False)
        return self._forward(x, emb)

    def _forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.updown:
            # BigGAN up/down: resample between the input activation and the first conv, and on the skip path.
            h = self.in_layers[1](self.in_layers[0](x))
            h = self.in_layers[2](self.h_upd(h))
            x = self.x_upd(x)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).type(h.dtype)[:, :, None, None]
        if self.scale_shift:
            # AdaGN (paper eq. in §3): GroupNorm(h) * (1 + y_s) + y_b.
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            for layer in self.out_layers[1:]:
                h = layer(h)
        else:
            h = self.out_layers(h + emb_out)
        out = self.skip_connection(x) + h
        return out * (1 / math.sqrt(2)) if self.rescale_skip else out


# ----------------------------------------------------------------------------------------------------------------
# Attention.


def split_qkv(qkv: torch.Tensor, heads: int, order: AttentionOrder) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[N, 3*H*C, T] -> q, k, v each [N, H, C, T], in the reference's legacy or new channel order."""
    n, width, length = qkv.shape
    ch = width // (3 * heads)
    if order is AttentionOrder.LEGACY:
        q, k, v = qkv.view(n, heads, 3, ch, length).unbind(2)  # heads first, then q/k/v
    else:
        q, k, v = qkv.view(n, 3, heads, ch, length).unbind(1)  # q/k/v first, then heads
    return q, k, v


def attention_naive(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Reference arithmetic: both operands scaled by C^-1/4, einsum, softmax in float32. [N,H,C,T] -> [N,H,C,T]."""
    scale = 1 / math.sqrt(math.sqrt(q.shape[2]))
    weight = torch.einsum("nhct,nhcs->nhts", q * scale, k * scale)
    weight = torch.softmax(weight.float(), dim=-1).type(weight.dtype)
    return torch.einsum("nhts,nhcs->nhct", weight, v)


def attention_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Fused scaled-dot-product attention (softmax(q^T k / sqrt(C)) v). [N,H,C,T] -> [N,H,C,T]."""
    out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
    return out.transpose(-1, -2)


def attend(qkv: torch.Tensor, heads: int, order: AttentionOrder, impl: AttentionImpl) -> torch.Tensor:
    """Multi-head attention over a fused qkv tensor [N, 3*H*C, T] -> [N, H*C, T]."""
    q, k, v = split_qkv(qkv, heads, order)
    a = attention_sdpa(q, k, v) if impl == "sdpa" else attention_naive(q, k, v)
    return a.reshape(qkv.shape[0], -1, qkv.shape[2])


class AttentionBlock(nn.Module):
    """Spatial self-attention with a residual connection: x + proj_out(attn(qkv(norm(x))))."""

    def __init__(
        self,
        channels: int,
        num_heads: int,
        num_head_channels: int | None,
        order: AttentionOrder,
        impl: AttentionImpl = "sdpa",
        use_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.num_heads = num_heads if num_head_channels is None else channels // num_head_channels
        self.order, self.impl = order, impl
        # The reference always recomputes attention in the backward pass; the naive path keeps that behaviour.
        self.use_checkpoint = use_checkpoint or impl == "naive"
        self.norm = normalization(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_checkpoint and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.impl == "naive":
            n, c, *spatial = x.shape
            x = x.reshape(n, c, -1)
            h = attend(self.qkv(self.norm(x)), self.num_heads, self.order, self.impl)
            return (x + self.proj_out(h)).reshape(n, c, *spatial)
        return x + self._attention_tokens_last(x)

    def _attention_tokens_last(self, x: torch.Tensor) -> torch.Tensor:
        """The same map computed token-major: GEMMs for the 1x1 projections, SDPA on [N, H, T, C] views.

        With a channels_last input every reshape here is a view (no copies).
        """
        n, c, height, width = x.shape
        tokens = self.norm(x).reshape(n, c, -1).transpose(1, 2)  # [N, T, C]
        qkv = F.linear(tokens, self.qkv.weight[:, :, 0], self.qkv.bias)  # [N, T, 3C]
        ch = c // self.num_heads
        if self.order is AttentionOrder.LEGACY:
            q, k, v = qkv.view(n, -1, self.num_heads, 3, ch).unbind(3)  # each [N, T, H, ch]
        else:
            q, k, v = qkv.view(n, -1, 3, self.num_heads, ch).unbind(2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [N, H, T, ch]
        if x.device.type == "cpu" and q.dtype != torch.float32:
            # On CPU, plain half-precision GEMMs beat the fused kernel (softmax accumulates in float32 internally).
            a = torch.softmax((q * ch**-0.5) @ k.transpose(-1, -2), dim=-1) @ v
        else:
            a = F.scaled_dot_product_attention(q, k, v)
        a = a.transpose(1, 2).reshape(n, -1, c)  # [N, T, C], channel = head * ch + c'
        h = F.linear(a, self.proj_out.weight[:, :, 0], self.proj_out.bias)  # [N, T, C]
        return h.transpose(1, 2).reshape(n, c, height, width)


class AttentionPool2d(nn.Module):
    """CLIP-style attention pooling: the mean token (plus positional embedding) attends over all positions."""

    def __init__(
        self, spatial_dim: int, embed_dim: int, num_head_channels: int, output_dim: int, impl: AttentionImpl = "sdpa"
    ) -> None:
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(embed_dim, spatial_dim**2 + 1) / embed_dim**0.5)
        self.qkv_proj = nn.Conv1d(embed_dim, 3 * embed_dim, 1)
        self.c_proj = nn.Conv1d(embed_dim, output_dim, 1)
        self.num_heads = embed_dim // num_head_channels
        self.impl = impl

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        x = x.reshape(n, c, -1)  # [N, C, T]
        x = torch.cat([x.mean(dim=-1, keepdim=True), x], dim=-1)  # [N, C, T+1]
        x = x + self.positional_embedding[None].to(x.dtype)
        h = attend(self.qkv_proj(x), self.num_heads, AttentionOrder.NEW, self.impl)
        return self.c_proj(h)[:, :, 0]


# ----------------------------------------------------------------------------------------------------------------
# Half precision (reference convert_module_to_f16: convolutions only; norms, linears and embeddings stay fp32).


def convert_convs(module: nn.Module, dtype: torch.dtype) -> None:
    """Cast the weights and biases of every Conv1d/2d/3d below `module` to `dtype`, in place."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            m.weight.data = m.weight.data.to(dtype)
            if m.bias is not None:
                m.bias.data = m.bias.data.to(dtype)
