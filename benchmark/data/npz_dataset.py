"""Image `.npz` files in ADM's sample format: `arr_0` uint8 [N, H, W, C] (C = 1 or 3), optional `arr_1` labels."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from benchmark.data.base import InMemoryImageDataset
from benchmark.errors import InputError
from benchmark.io.inputs import require_regular_file
from benchmark.io.npz import member_header


def load_image_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Validated (images uint8 NHWC, labels int64 or None) from an image `.npz`; InputError on any problem."""
    path = Path(path)
    require_regular_file(path, "an image .npz file")
    if not zipfile.is_zipfile(path):
        raise InputError("not a readable .npz file: it is not a zip archive (np.savez writes zip archives of .npy "
                         "arrays)", path)  # fmt: skip
    try:
        with np.load(path, allow_pickle=False) as data:
            if "arr_0" not in data.files:
                raise InputError(f"no 'arr_0' image array (keys: {', '.join(data.files) or 'none'})", path)
            for key in ("arr_0", "arr_1"):  # headers and sizes checked before numpy allocates anything
                if key in data.files:
                    member_header(path, key)
            images = data["arr_0"]
            labels = data["arr_1"] if "arr_1" in data.files else None
    except InputError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"not a readable .npz file ({exc})", path) from exc
    if images.dtype != np.uint8:
        raise InputError(f"arr_0 must be uint8 images in [0, 255], got dtype {images.dtype}", path)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise InputError(f"arr_0 must be [N, H, W, C] with C = 1 or 3 (NHWC), got shape {images.shape}", path)
    if images.shape[1] != images.shape[2]:
        raise InputError(f"arr_0 images must be square, got {images.shape[1]}x{images.shape[2]}", path)
    if labels is not None:
        if labels.shape != (images.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
            raise InputError(f"arr_1 must hold {images.shape[0]} integer labels, got {labels.dtype} {labels.shape}",
                             path)  # fmt: skip
        if labels.size and labels.min() < 0:
            raise InputError(f"arr_1 labels must be non-negative, found {labels.min()}", path)
        labels = labels.astype(np.int64)
    return images, labels


class NpzImageDataset(InMemoryImageDataset):
    """An image `.npz` held in memory. `resolution` must match the stored size; 1-channel files may be widened to 3."""

    def __init__(self, path: str | Path, resolution: int | None = None, channels: int | None = None) -> None:
        self.path = Path(path)
        images, labels = load_image_npz(self.path)
        if resolution is not None and images.shape[1] != resolution:
            size = f"{images.shape[1]}x{images.shape[2]}, expected {resolution}x{resolution}"
            raise InputError(f"images are {size} (resize before packing; .npz images are not resampled)", self.path)
        if channels is not None and channels != images.shape[-1]:
            if channels == 3 and images.shape[-1] == 1:
                images = np.repeat(images, 3, axis=-1)
            else:
                raise InputError(f"images have {images.shape[-1]} channels, cannot provide {channels}", self.path)
        self.images = images
        self.labels = labels if labels is not None else np.full(len(images), -1, dtype=np.int64)
        self.resolution = int(images.shape[1])
        self.channels = int(images.shape[-1])
        self.num_classes = int(labels.max()) + 1 if labels is not None and labels.size else 0

    def describe(self) -> dict[str, object]:
        return {
            "dataset": "npz",
            "path": str(self.path),
            "resolution": self.resolution,
            "channels": self.channels,
            "num_images": len(self),
        }
