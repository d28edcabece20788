"""TF1 legacy bilinear resize (`ResizeBilinear`, align_corners=False, half_pixel_centers=False), bit-exact on CPU.

TF computes everything in float32 (image_resizer_state.h `CalculateResizeScale`, `LegacyScaler`;
resize_bilinear_op.cc `compute_interpolation_weights`, `compute_lerp`):
    scale = in / float(out);  src = float(i) * scale;  lo = max(floor(src), 0);  hi = min(ceil(src), in - 1)
    w = src - floor(src);  top = tl + (tr - tl) * wx;  bottom = bl + (br - bl) * wx;  out = top + (bottom - top) * wy
No antialiasing, also when shrinking. We precompute the gather indices and weights with numpy float32 (same
roundings as TF's scalar code) and evaluate the three lerps as separate float32 tensor ops (no fused multiply-add),
so the result equals TF's on CPU bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class AxisWeights:
    """Gather indices and lerp weights for one axis."""

    lo: np.ndarray  # int64 [out]
    hi: np.ndarray  # int64 [out]
    frac: np.ndarray  # float32 [out]


def axis_weights(in_size: int, out_size: int) -> AxisWeights:
    """TF legacy (align_corners=False, half_pixel_centers=False) source indices and weights, in float32."""
    scale = np.float32(in_size) / np.float32(out_size)  # float32 division, as `in_size / static_cast<float>(out)`
    src = np.arange(out_size, dtype=np.float32) * scale  # float32 product
    floor = np.floor(src)
    lo = np.maximum(floor.astype(np.int64), 0)
    hi = np.minimum(np.ceil(src).astype(np.int64), in_size - 1)
    frac = (src - floor).astype(np.float32)
    return AxisWeights(lo=lo, hi=hi, frac=frac)


def resize_bilinear_tf1(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize float32 NHWC `images` [N, H, W, C] to [N, size, size, C] exactly like TF1's legacy ResizeBilinear."""
    if images.dtype != torch.float32 or images.ndim != 4:
        raise ValueError(f"expected float32 NHWC images, got {images.dtype} {tuple(images.shape)}")
    n, h, w, c = images.shape
    if h == size and w == size:
        return images  # TF's CPU kernel copies the input unchanged in this case
    dev = images.device
    ay, ax = axis_weights(h, size), axis_weights(w, size)
    y_lo, y_hi = torch.from_numpy(ay.lo).to(dev), torch.from_numpy(ay.hi).to(dev)
    x_lo, x_hi = torch.from_numpy(ax.lo).to(dev), torch.from_numpy(ax.hi).to(dev)
    wy = torch.from_numpy(ay.frac).to(dev).view(1, size, 1, 1)
    wx = torch.from_numpy(ax.frac).to(dev).view(1, 1, size, 1)

    # Rows first (cheap: W columns), then the four neighbours.
    top_rows = images.index_select(1, y_lo)  # [N, size, W, C]
    bottom_rows = images.index_select(1, y_hi)
    tl, tr = top_rows.index_select(2, x_lo), top_rows.index_select(2, x_hi)  # [N, size, size, C]
    bl, br = bottom_rows.index_select(2, x_lo), bottom_rows.index_select(2, x_hi)
    top = tl + (tr - tl) * wx
    bottom = bl + (br - bl) * wx
    return top + (bottom - top) * wy
