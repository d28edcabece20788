"""Image preprocessing shared by training data and reference batches, so both see identical pixels.

Fashion-MNIST convention: 28x28 digits-style images are zero-padded by 2 pixels on each side to a 32x32
canvas (the usual MNIST-at-32 framing). Other resolutions resize that canvas:
  - when 32 is a multiple of the target (16, 8, ...): exact box average over k x k blocks (torch "area"),
  - otherwise: bilinear interpolation with antialiasing (torch `interpolate(..., antialias=True)`).
Resolution 28 keeps the native images. Results are rounded half-to-even and clipped to uint8.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

NATIVE_SIZE = 28
CANVAS_SIZE = 32


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 NHWC images to size x size: box average for integer down-factors, else antialiased bilinear."""
    if images.ndim != 4:
        raise ValueError(f"expected NHWC images, got shape {images.shape}")
    n, h, w, c = images.shape
    if (h, w) == (size, size):
        return images
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(torch.float32)  # N x C x H x W
    if h == w and h % size == 0:
        x = F.avg_pool2d(x, kernel_size=h // size)  # exact k x k box average
    else:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    x = torch.round(x).clamp_(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().numpy()


def prepare_images(images: np.ndarray, resolution: int, channels: int) -> np.ndarray:
    """Fashion-MNIST style uint8 images [N, 28, 28] (or [N, 28, 28, 1]) -> uint8 [N, R, R, channels].

    R = 28 keeps the native images, R = 32 zero-pads 2 pixels each side, any other R resizes the padded
    32x32 canvas (see the module docstring). channels = 3 replicates the gray channel.
    """
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {images.dtype}")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] != 1:
        raise ValueError(f"expected grayscale images [N, H, W] or [N, H, W, 1], got shape {images.shape}")
    if resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if resolution != images.shape[1] or images.shape[1] != images.shape[2]:
        pad_h, pad_w = CANVAS_SIZE - images.shape[1], CANVAS_SIZE - images.shape[2]
        if pad_h >= 0 and pad_w >= 0:
            top, left = pad_h // 2, pad_w // 2
            images = np.pad(images, ((0, 0), (top, pad_h - top), (left, pad_w - left), (0, 0)))
        images = resize_images(images, resolution)
    if channels == 3:
        images = np.repeat(images, 3, axis=-1)
    return np.ascontiguousarray(images)
