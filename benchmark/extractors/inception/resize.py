"""TF1 legacy bilinear resize (`ResizeBilinear`, align_corners=False, half_pixel_centers=False), bit-exact on CPU.

TF computes everything in float32 (image_resizer_state.h `CalculateResizeScale`, `LegacyScaler`;
resize_bilinear_op.cc `compute_interpolation_weights`, `compute_lerp`):
    scale = in / float(out);  src = float(i) * scale;  lo = max(floor(src), 0);  hi = min(ceil(src), in - 1)
    w = src - floor(src);  top = tl + (tr - tl) * wx;  bottom = bl + (br - bl) * wx;  out = top + (bottom - top) * wy
No antialiasing, also when shrinking. We precompute the gather indices and weights with numpy float32 (same
roundings as TF's scalar code) and evaluate the three lerps as separate float32 tensor ops (no fused multiply-add),
so the result equals TF's on CPU bit for bit. The horizontal lerp is computed once per source row and shared by
the output rows that read it (the same values, fewer operations).
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
    """Resize NHWC `images` [N, H, W, C] (uint8 or float32) to float32 [N, size, size, C] exactly like TF1's
    legacy ResizeBilinear (which casts to float32 first; gathering before the exact uint8 -> float32 cast is
    the same computation with less memory traffic)."""
    if images.dtype not in (torch.uint8, torch.float32) or images.ndim != 4:
        raise ValueError(f"expected uint8 or float32 NHWC images, got {images.dtype} {tuple(images.shape)}")
    n, h, w, c = images.shape
    if h == size and w == size:
        return images.to(torch.float32)  # TF's CPU kernel copies the input unchanged in this case
    dev = images.device
    ay, ax = axis_weights(h, size), axis_weights(w, size)
    # Separable evaluation of the same arithmetic: `top` and `bottom` are horizontal lerps of source rows y_lo
    # and y_hi, identical for every output row reading that source row, so each needed source row is lerped
    # once ([N, rows, size, C], rows <= min(H, 2 * size)) and the vertical lerp gathers the results.
    rows, row_of = np.unique(np.concatenate([ay.lo, ay.hi]), return_inverse=True)
    y_lo, y_hi = (torch.from_numpy(row_of[:size]).to(dev), torch.from_numpy(row_of[size:]).to(dev))
    x_lo, x_hi = torch.from_numpy(ax.lo).to(dev), torch.from_numpy(ax.hi).to(dev)
    wy = torch.from_numpy(ay.frac).to(dev).view(1, size, 1, 1)
    wx = torch.from_numpy(ax.frac).to(dev).view(1, 1, size, 1)

    source = images if len(rows) == h else images.index_select(1, torch.from_numpy(rows).to(dev))
    # Gather before the exact uint8 -> float32 cast (less memory traffic); in place, and d + a == a + d exactly
    # in IEEE arithmetic, so top = tl + (tr - tl) * wx etc. are TF's values bit for bit.
    left = source.index_select(2, x_lo).to(torch.float32)
    lerped = source.index_select(2, x_hi).to(torch.float32).sub_(left).mul_(wx).add_(left)  # [N, rows, size, C]
    top = lerped.index_select(1, y_lo)
    return lerped.index_select(1, y_hi).sub_(top).mul_(wy).add_(top)
