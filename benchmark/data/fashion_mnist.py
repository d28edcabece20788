"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60k train / 10k test grayscale 28x28 images in 10 classes.

The four idx `.gz` files are looked up, in order, in
  1. `$ADMBENCH_DATA/fashion-mnist/` and `$ADMBENCH_DATA/`,
  2. `/usr/share/datasets/fashion-mnist/` (the Debian package `dataset-fashion-mnist`),
  3. the cache directory `$ADMBENCH_CACHE/fashion-mnist/` (default `~/.cache/admbench/fashion-mnist/`),
and otherwise downloaded into the cache directory from the official mirrors.

Every file is checked before use. It is accepted when the archive's md5 equals the published one (the
official files), or the archive's sha256 equals the Debian package's copy (recompressed upstream files), or
the sha256 of the decompressed idx content equals the pinned one (any other faithful recompression).
A truncated or corrupt archive, or a checksum mismatch, raises InputError naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark import paths
from benchmark.data.base import InMemoryImageDataset
from benchmark.data.idx import decode_idx
from benchmark.data.transforms import NATIVE_SIZE, prepare_images
from benchmark.errors import InputError
from benchmark.io.download import RemoteFile, download

NAME = "fashion-mnist"
SPLITS = ("train", "test")
NUM_CLASSES = 10
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class IdxFile:
    """One published idx archive and the checksums that identify it."""

    filename: str
    count: int  # number of images / labels
    md5: str  # published by the dataset authors (README table) for the official archive
    sha256: str  # archive as shipped by the Debian package dataset-fashion-mnist
    content_sha256: str  # the decompressed idx bytes, independent of how the archive was compressed


FILES: dict[str, tuple[IdxFile, IdxFile]] = {
    "train": (
        IdxFile(
            "train-images-idx3-ubyte.gz",
            60000,
            md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            sha256="b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
            content_sha256="c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        IdxFile(
            "train-labels-idx1-ubyte.gz",
            60000,
            md5="25c81989df183df01b3e8a0aad5dffbe",
            sha256="0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
            content_sha256="bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
    ),
    "test": (
        IdxFile(
            "t10k-images-idx3-ubyte.gz",
            10000,
            md5="bef4ecab320f06d8554ea6380940ec79",
            sha256="cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
            content_sha256="5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        IdxFile(
            "t10k-labels-idx1-ubyte.gz",
            10000,
            md5="bb300cfdad3c16e7a12a480ee83cd310",
            sha256="8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
            content_sha256="0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    ),
}  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """`$ADMBENCH_CACHE/fashion-mnist`, default `~/.cache/admbench/fashion-mnist`."""
    return paths.cache_root() / NAME


def search_dirs() -> list[Path]:
    """Directories searched for the idx files, in order (see the module docstring)."""
    dirs: list[Path] = []
    data = os.environ.get("ADMBENCH_DATA")
    if data:
        dirs += [Path(data).expanduser() / NAME, Path(data).expanduser()]
    return dirs + [DEBIAN_DIR, cache_dir()]


def locate(spec: IdxFile, dirs: list[Path], allow_download: bool, mirrors: tuple[str, ...] = MIRRORS) -> Path:
    """First existing copy of `spec` in `dirs`; else download it into the cache (md5-verified), else InputError."""
    for d in dirs:
        if (d / spec.filename).is_file():
            return d / spec.filename
    searched = ", ".join(str(d) for d in dirs)
    if not allow_download:
        raise InputError(f"Fashion-MNIST file not found in: {searched} (set ADMBENCH_DATA or allow the download)",
                         spec.filename)  # fmt: skip
    errors: list[str] = []
    for mirror in mirrors:
        try:
            return download(RemoteFile(url=mirror + spec.filename, filename=spec.filename, md5=spec.md5), cache_dir())
        except InputError as exc:
            errors.append(str(exc))
    raise InputError(f"Fashion-MNIST file not found in: {searched}, and every download failed: {'; '.join(errors)}",
                     spec.filename)  # fmt: skip


def read_verified(path: Path, spec: IdxFile) -> bytes:
    """Decompress an idx archive and check it against the pinned checksums; return the idx bytes."""
    raw = path.read_bytes()
    try:
        content = gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        message = f"corrupt or truncated gzip archive ({exc}); delete it to download a fresh copy"
        raise InputError(message, path) from exc
    if hashlib.md5(raw).hexdigest() == spec.md5 or hashlib.sha256(raw).hexdigest() == spec.sha256:
        return content
    actual = hashlib.sha256(content).hexdigest()
    if actual != spec.content_sha256:
        raise InputError(
            f"checksum mismatch: decompressed sha256 {actual}, expected {spec.content_sha256} for {spec.filename} "
            "(and the archive matches neither the published md5 nor the Debian package's sha256)",
            path,
        )
    return content


def load_split(split: str = "train", allow_download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Verified Fashion-MNIST split: images uint8 [N, 28, 28] and labels int64 [N]."""
    if split not in FILES:
        raise InputError(f"unknown Fashion-MNIST split {split!r}; choose one of {', '.join(SPLITS)}")
    dirs = search_dirs()
    image_spec, label_spec = FILES[split]
    image_path = locate(image_spec, dirs, allow_download)
    label_path = locate(label_spec, dirs, allow_download)
    images = decode_idx(read_verified(image_path, image_spec), image_path, expected_ndim=3)
    labels = decode_idx(read_verified(label_path, label_spec), label_path, expected_ndim=1)
    if images.shape != (image_spec.count, NATIVE_SIZE, NATIVE_SIZE):
        raise InputError(f"expected images of shape {(image_spec.count, NATIVE_SIZE, NATIVE_SIZE)}, got {images.shape}",
                         image_path)  # fmt: skip
    if labels.shape != (label_spec.count,) or labels.max(initial=0) >= NUM_CLASSES:
        raise InputError(f"expected {label_spec.count} labels in 0..{NUM_CLASSES - 1}", label_path)
    return images, labels.astype(np.int64)


# ---------------------------------------------------------------------------------------------------------------------


class FashionMNIST(InMemoryImageDataset):
    """A Fashion-MNIST split held in memory, prepared to `resolution` x `resolution` x `channels` (see transforms)."""

    def __init__(
        self, split: str = "train", resolution: int = 32, channels: int = 1, allow_download: bool = True
    ) -> None:
        raw, labels = load_split(split, allow_download)
        self.split = split
        self.resolution = resolution
        self.channels = channels
        self.num_classes = NUM_CLASSES
        self.images = prepare_images(raw, resolution, channels)  # N x R x R x C uint8
        self.labels = labels

    def describe(self) -> dict[str, object]:
        return {
            "dataset": NAME,
            "split": self.split,
            "resolution": self.resolution,
            "channels": self.channels,
            "num_images": len(self),
            "preprocessing": "transforms.prepare_images (zero-pad 28->32; box/antialiased-bilinear resize)",
        }
