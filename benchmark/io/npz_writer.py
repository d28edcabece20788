"""Write a uint8 image archive (`arr_0`, the sample-archive layout) batch by batch, without holding it in memory.

The result is an uncompressed `.npz` (ZIP64 records, `.npy` format 1.0 as `np.savez` writes) that `np.load`,
`iter_image_batches` and the reference evaluator read like one written by `np.savez`; it appears atomically once
every promised image has been written.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from benchmark.io.atomic import atomic_write


def write_image_archive(path: str | Path, shape: tuple[int, int, int, int], batches: Iterable[np.ndarray],
                        labels: np.ndarray | None = None) -> None:
    """Stream uint8 NHWC `batches` into `path` as `arr_0` of `shape` (plus `labels` as `arr_1`); ValueError, and
    no file, if the batches do not fill `shape` exactly. Any exception raised while iterating also leaves no file."""
    n, h, w, c = shape
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False, "shape": shape}
    written = 0
    with atomic_write(path) as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        with zf.open("arr_0.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)  # the version np.savez writes
            for batch in batches:
                if batch.dtype != np.uint8 or batch.shape[1:] != (h, w, c):
                    raise ValueError(f"batch {batch.dtype} {batch.shape} does not fit arr_0 {shape} uint8")
                if written + len(batch) > n:
                    raise ValueError(f"batches hold more than the {n} images promised")
                member.write(np.ascontiguousarray(batch).data)
                written += len(batch)
        if written != n:
            raise ValueError(f"batches held {written} images, {n} promised")
        if labels is not None:
            if labels.shape != (n,):
                raise ValueError(f"labels of shape {labels.shape} for {n} images")
            with zf.open("arr_1.npy", "w") as member:
                np.lib.format.write_array(member, np.ascontiguousarray(labels), allow_pickle=False)
