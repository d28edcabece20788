"""ImageNet-style image folders in guided-diffusion's layout (guided_diffusion/image_datasets.py).

- Files: a recursive, name-sorted walk keeping jpg / jpeg / png / gif / webp (case-insensitive extension).
- Classes: the file-name prefix before the first "_" ("n01440764_10026.JPEG" -> "n01440764"); sorted class
  names map to indices 0..K-1.
- Pixels: converted to RGB, then `center_crop_arr`: halve with BOX filtering while the short side is at
  least twice the target, BICUBIC-resize so the short side equals the target (long side rounded with
  Python's round), then take the centre crop (offsets floored). No random flip: admbench flips, if at all,
  in the training batch iterator.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.base import ImageDataset
from benchmark.errors import InputError

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "gif", "webp")


def _pil_image() -> Any:
    """The PIL.Image module, imported lazily with a clear error when Pillow is missing."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise InputError("image folders need Pillow: pip install pillow") from exc
    return Image


def list_image_files(root: str | Path) -> list[Path]:
    """Image files under `root`, depth-first in sorted entry order (the reference's listing)."""
    results: list[Path] = []
    for entry in sorted(os.listdir(root)):
        full = Path(root) / entry
        if "." in entry and entry.split(".")[-1].lower() in IMAGE_EXTENSIONS:
            results.append(full)
        elif full.is_dir():
            results.extend(list_image_files(full))
    return results


def class_name_of(path: str | Path) -> str:
    """Class of a file: its base name up to the first underscore (the whole name if there is none)."""
    return Path(path).name.split("_")[0]


def class_indices(paths: list[Path]) -> tuple[list[str], list[int]]:
    """Sorted distinct class names and each file's class index."""
    names = [class_name_of(p) for p in paths]
    classes = sorted(set(names))
    index = {name: i for i, name in enumerate(classes)}
    return classes, [index[name] for name in names]


def center_crop_arr(pil_image: Any, image_size: int) -> np.ndarray:
    """guided-diffusion's centre crop: repeated 2x BOX downsampling, one BICUBIC resize, centre crop."""
    image_module = _pil_image()
    # Halve while the short side stays >= 2x the target (cheap, alias-free coarse downsampling).
    while min(*pil_image.size) >= 2 * image_size:
        pil_image = pil_image.resize(tuple(x // 2 for x in pil_image.size), resample=image_module.BOX)
    # Resize so the short side is exactly the target.
    scale = image_size / min(*pil_image.size)
    pil_image = pil_image.resize(tuple(round(x * scale) for x in pil_image.size), resample=image_module.BICUBIC)
    # Centre crop; odd margins put the extra pixel at the bottom / right.
    arr = np.array(pil_image)
    crop_y = (arr.shape[0] - image_size) // 2
    crop_x = (arr.shape[1] - image_size) // 2
    return arr[crop_y : crop_y + image_size, crop_x : crop_x + image_size]


class ImageFolderDataset(ImageDataset):
    """Images under a folder, centre-cropped to `resolution`; labels from file-name prefixes (or -1 if unlabelled).

    Items decode lazily, so the dataset pickles cheaply into DataLoader workers.
    """

    def __init__(self, root: str | Path, resolution: int, channels: int = 3, class_cond: bool = True) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError("image folder not found", self.root)
        if channels not in (1, 3):
            raise InputError(f"channels must be 1 or 3, got {channels}", self.root)
        _pil_image()  # fail early, not inside a worker
        self.paths = list_image_files(self.root)
        if not self.paths:
            raise InputError(f"no {'/'.join(IMAGE_EXTENSIONS)} images found (searched recursively)", self.root)
        self.resolution = resolution
        self.channels = channels
        if class_cond:
            self.class_names, self.labels = class_indices(self.paths)
        else:
            self.class_names, self.labels = [], [-1] * len(self.paths)
        self.num_classes = len(self.class_names)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        image_module = _pil_image()
        path = self.paths[index]
        try:
            with image_module.open(path) as pil_image:
                pil_image.load()
                pil_image = pil_image.convert("RGB")
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot decode image ({exc})", path) from exc
        if self.channels == 1:
            pil_image = pil_image.convert("L")
        arr = center_crop_arr(pil_image, self.resolution)
        if arr.ndim == 2:
            arr = arr[..., None]
        return np.ascontiguousarray(arr, dtype=np.uint8), self.labels[index]

    def describe(self) -> dict[str, object]:
        return {
            "dataset": "image-folder",
            "path": str(self.root),
            "resolution": self.resolution,
            "channels": self.channels,
            "num_images": len(self),
            "num_classes": self.num_classes,
            "preprocessing": "guided-diffusion center_crop_arr (BOX halving, BICUBIC resize, centre crop)",
        }
