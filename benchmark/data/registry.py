"""`open_dataset(spec, ...)`: "fashion-mnist[:train|:test]", an image folder, or an image `.npz` file."""

from __future__ import annotations

from pathlib import Path

from benchmark.data.base import ImageDataset
from benchmark.data.fashion_mnist import NUM_CLASSES, FashionMNIST
from benchmark.data.image_folder import ImageFolderDataset
from benchmark.data.npz_dataset import NpzImageDataset
from benchmark.errors import InputError

FASHION_MNIST = "fashion-mnist"


def open_dataset(
    spec: str,
    resolution: int | None = None,
    channels: int | None = None,
    class_cond: bool = True,
    allow_download: bool = True,
) -> ImageDataset:
    """Open a dataset by spec.

    - "fashion-mnist" (train split) or "fashion-mnist:test": resolution defaults to 32, channels to 1.
    - a directory: guided-diffusion image folder; resolution required, channels default 3.
    - a `.npz` file: `arr_0` images (resolution, if given, must match), optional `arr_1` labels.
    """
    if spec == FASHION_MNIST or spec.startswith(FASHION_MNIST + ":"):
        split = spec.partition(":")[2] or "train"
        return FashionMNIST(split, resolution or 32, channels or 1, allow_download=allow_download)
    path = Path(spec).expanduser()
    if path.is_dir():
        if resolution is None:
            raise InputError("image folders need a resolution (the centre-crop size)", path)
        return ImageFolderDataset(path, resolution, channels or 3, class_cond=class_cond)
    if path.suffix == ".npz":
        return NpzImageDataset(path, resolution, channels)
    raise InputError(f"unknown dataset; use '{FASHION_MNIST}', '{FASHION_MNIST}:test', an image folder or a .npz file",
                     spec)  # fmt: skip


def dataset_num_classes(spec: str, resolution: int) -> int:
    """The number of classes of a dataset (0 when it has no labels); Fashion-MNIST's without reading its files."""
    if spec == FASHION_MNIST or spec.startswith(FASHION_MNIST + ":"):
        return NUM_CLASSES
    return open_dataset(spec, resolution, class_cond=True).num_classes
