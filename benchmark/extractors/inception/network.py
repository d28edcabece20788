"""Inception-v3 exactly as the 2015-12-05 TF graph computes it, in pure PyTorch.

Differences from torchvision's Inception3 that matter for the reference numbers (TF graph, see layout.py):
TF1 legacy bilinear resize to 299 and (x - 128) / 128 inside the network; BN eps 0.001; average pools of the
mixed blocks exclude padding (TF SAME AvgPool); mixed_10's pool branch is a max pool; IS logits have no bias.
State-dict names are the canonical torchvision ones (`Mixed_6d.branch1x1.conv.weight`, `...bn.running_var`,
`fc.weight`), 472 tensors. `fuse()` folds BN into conv weights and merges the parallel 1x1 convs that read a
block's input into one conv (exact re-arrangements up to float rounding); the canonical tensors stay untouched.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmark.extractors.inception import layout
from benchmark.extractors.inception.layout import BlockSpec, ConvSpec
from benchmark.extractors.inception.resize import resize_bilinear_tf1

#----------------------------------------------------------------------------


class FrozenBatchNorm(nn.Module):
    """Inference batch norm with the four canonical tensors as buffers: y = (x - mean) / sqrt(var + eps) * w + b."""

    def __init__(self, channels: int, eps: float = layout.BN_EPSILON) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel (scale, shift) with BN(x) = x * scale + shift, computed in float64."""
        scale = self.weight.double() / torch.sqrt(self.running_var.double() + self.eps)
        return scale, self.bias.double() - self.running_mean.double() * scale


class ConvUnit(nn.Module):
    """TF conv unit `S`: `S/Conv2D` (no bias) -> `S/batchnorm` -> ReLU (the op named `S`)."""

    def __init__(self, spec: ConvSpec) -> None:
        super().__init__()
        self.spec = spec
        self.conv = nn.Conv2d(spec.in_channels, spec.out_channels, spec.kernel, spec.stride, spec.padding, bias=False)
        self.bn = FrozenBatchNorm(spec.out_channels)
        self.fused: tuple[torch.Tensor, torch.Tensor] | None = None

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Conv weight and bias with the batch norm folded in (float32)."""
        scale, shift = self.bn.folded()
        weight = self.conv.weight.double() * scale.view(-1, 1, 1, 1)
        return weight.float(), shift.float()

    def fuse(self, channels_last: bool) -> None:
        weight, bias = self.folded()
        if channels_last:
            weight = weight.contiguous(memory_format=torch.channels_last)
        self.fused = (weight, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused is None:
            return F.relu(self.bn(self.conv(x)))
        weight, bias = self.fused
        return F.relu_(F.conv2d(x, weight, bias, self.spec.stride, self.spec.padding))


def _avg_pool_same(x: torch.Tensor) -> torch.Tensor:
    # TF AvgPool 3x3/1 SAME divides by the number of valid (unpadded) inputs.
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _max_pool_same(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=1, padding=1)


def _max_pool_valid(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=2)


#----------------------------------------------------------------------------


class MixedBlock(nn.Module):
    """One mixed block (kind A-E) with torchvision branch names; `heads` are the 1x1 convs reading the input."""

    HEADS = {
        "A": ("branch1x1", "branch5x5_1", "branch3x3dbl_1"),
        "B": (),
        "C": ("branch1x1", "branch7x7_1", "branch7x7dbl_1"),
        "D": ("branch3x3_1", "branch7x7x3_1"),
        "E": ("branch1x1", "branch3x3_1", "branch3x3dbl_1"),
    }

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.spec = spec
        for unit in layout.block_convs(spec):
            self.add_module(unit.torch_name.split(".", 1)[1], ConvUnit(unit))
        self.heads = self.HEADS[spec.kind]
        self.merged: tuple[torch.Tensor, torch.Tensor, list[int]] | None = None

    def unit(self, name: str) -> ConvUnit:
        module = getattr(self, name)
        assert isinstance(module, ConvUnit)
        return module

    def fuse(self, channels_last: bool) -> None:
        for module in self.children():
            if isinstance(module, ConvUnit):
                module.fuse(channels_last)
        if self.heads:
            parts = [self.unit(name).folded() for name in self.heads]
            weight = torch.cat([w for w, _ in parts])
            if channels_last:
                weight = weight.contiguous(memory_format=torch.channels_last)
            self.merged = (weight, torch.cat([b for _, b in parts]), [int(b.numel()) for _, b in parts])

    def _run_heads(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.merged is None:
            return [self.unit(name)(x) for name in self.heads]
        weight, bias, splits = self.merged
        return list(F.relu_(F.conv2d(x, weight, bias)).split(splits, dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kind = self.spec.kind
        u = self.unit
        if kind == "A":
            b1, b5, b3 = self._run_heads(x)
            b5 = u("branch5x5_2")(b5)
            b3 = u("branch3x3dbl_3")(u("branch3x3dbl_2")(b3))
            return torch.cat([b1, b5, b3, u("branch_pool")(_avg_pool_same(x))], 1)
        if kind == "B":
            b3 = u("branch3x3")(x)
            bd = u("branch3x3dbl_3")(u("branch3x3dbl_2")(u("branch3x3dbl_1")(x)))
            return torch.cat([b3, bd, _max_pool_valid(x)], 1)
        if kind == "C":
            b1, b7, bd = self._run_heads(x)
            b7 = u("branch7x7_3")(u("branch7x7_2")(b7))
            for i in range(2, 6):
                bd = u(f"branch7x7dbl_{i}")(bd)
            return torch.cat([b1, b7, bd, u("branch_pool")(_avg_pool_same(x))], 1)
        if kind == "D":
            b3, b7 = self._run_heads(x)
            b3 = u("branch3x3_2")(b3)
            for i in range(2, 5):
                b7 = u(f"branch7x7x3_{i}")(b7)
            return torch.cat([b3, b7, _max_pool_valid(x)], 1)
        # E: the 1x3 / 3x1 pairs are concatenated in place of their tower (TF `tower/mixed`).
        b1, b3, bd = self._run_heads(x)
        bd = u("branch3x3dbl_2")(bd)
        pooled = _max_pool_same(x) if self.spec.pool == "max" else _avg_pool_same(x)
        return torch.cat(
            [
                b1,
                u("branch3x3_2a")(b3),
                u("branch3x3_2b")(b3),
                u("branch3x3dbl_3a")(bd),
                u("branch3x3dbl_3b")(bd),
                u("branch_pool")(pooled),
            ],
            1,
        )


#----------------------------------------------------------------------------


class InceptionV3(nn.Module):
    """uint8 images [N, H, W, 3] or [N, 3, H, W] (any H, W; 1 channel is repeated) -> (pool, spatial, logits).

    pool [N, 2048] = pool_3; spatial [N, 2023] = mixed_6/conv post-ReLU, first 7 channels, flattened (h, w, c);
    logits [N, 1008] = pool @ softmax/weights without the bias (as the reference IS uses).
    """

    def __init__(self, channels_last: bool = True) -> None:
        super().__init__()
        self.channels_last = channels_last
        for unit in layout.STEM:
            self.add_module(unit.torch_name, ConvUnit(unit))
        for block in layout.BLOCKS:
            self.add_module(block.torch_name, MixedBlock(block))
        self.fc = nn.Linear(layout.POOL_DIM, layout.NUM_CLASSES)

    @torch.no_grad()
    def fuse(self) -> "InceptionV3":
        """Fold every BN into its conv and merge parallel 1x1 heads (call after loading weights and `.to()`)."""
        for module in self.children():
            if isinstance(module, (ConvUnit, MixedBlock)):
                module.fuse(self.channels_last)
        return self

    @staticmethod
    def to_nhwc(images: torch.Tensor) -> torch.Tensor:
        """NHWC / NCHW with 1 or 3 channels -> NHWC with 3 channels, dtype kept (NHWC wins when ambiguous)."""
        if images.ndim != 4:
            raise ValueError(f"expected a 4-d image batch, got shape {tuple(images.shape)}")
        if images.shape[-1] not in (1, 3):
            if images.shape[1] not in (1, 3):
                raise ValueError(f"expected 1 or 3 channels (NHWC or NCHW), got shape {tuple(images.shape)}")
            images = images.permute(0, 2, 3, 1)
        if images.shape[-1] == 1:
            images = images.expand(-1, -1, -1, 3)
        return images

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Graph input chain: Cast -> ResizeBilinear(299) -> Sub(128) -> Mul(1/128); returns NCHW (channels_last)."""
        x = self.to_nhwc(images)
        if x.dtype != torch.uint8:
            x = x.to(torch.float32)
        x = resize_bilinear_tf1(x.contiguous(), layout.INPUT_SIZE)
        x = (x - 128.0) * 0.0078125
        x = x.permute(0, 3, 1, 2)  # logical NCHW, memory NHWC
        return x if self.channels_last else x.contiguous()

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.features(self.preprocess(images))

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Network from the normalized 299x299 input (NCHW) to (pool, spatial, logits)."""
        for unit in layout.STEM:
            x = getattr(self, unit.torch_name)(x)
            if unit.tf_scope in ("conv_2", "conv_4"):  # followed by `pool` / `pool_1`
                x = _max_pool_valid(x)
        spatial = x
        for block in layout.BLOCKS:
            x = getattr(self, block.torch_name)(x)
            if block.tf_scope == "mixed_6":
                spatial = x  # mixed_6/conv is the first branch of mixed_6's concat
        n = x.shape[0]
        spatial = spatial[:, : layout.SPATIAL_CHANNELS].permute(0, 2, 3, 1).reshape(n, layout.SPATIAL_DIM)
        pool = x.mean(dim=(2, 3))  # pool_3: AvgPool 8x8 VALID
        logits = F.linear(pool, self.fc.weight)  # no bias, as the reference IS
        return pool, spatial, logits
