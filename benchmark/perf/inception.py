"""Perf: Inception-v3 feature extraction, PyTorch port vs TensorFlow running the same GraphDef, same machine.

Both backends load one synthetic graph (the real graph's structure, random weights) written to a temp dir, so no
download is needed; throughput does not depend on the weight values. Each backend is timed in its own spawned
process, one after the other, so that the two frameworks' thread pools never compete for the same cores.
The torch process runs with OMP_WAIT_POLICY=PASSIVE (unless set): on a shared, oversubscribed machine OpenMP's
default spin-waiting at every barrier makes each op wait for a descheduled thread (10-20x slower at 2 threads);
TensorFlow's own thread pool does not use OpenMP.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from pathlib import Path

import numpy as np

from benchmark.perf.common import PerfRow, best_time

SECTION = "inception"
_SIZES = (64, 256, 512)


def _tf_available() -> bool:
    try:
        import tensorflow  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def _measure(backend: str, graph: str, batch: int, repeats: int) -> dict[str, float]:
    """Runs in a fresh process: images/s per size for one backend, plus the bare resize 512 -> 299."""
    import torch  # noqa: PLC0415

    from benchmark.extractors.base import ExtractorOptions  # noqa: PLC0415
    from benchmark.extractors.inception.resize import resize_bilinear_tf1  # noqa: PLC0415
    from benchmark.extractors.registry import build_extractor  # noqa: PLC0415

    extractor = build_extractor("inception-v3", ExtractorOptions(weights_path=Path(graph), batch_size=batch,
                                                                 backend=backend))
    rng = np.random.default_rng(0)
    rates: dict[str, float] = {"threads": float(torch.get_num_threads())}
    for size in _SIZES:
        images = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
        extractor.extract(images[:1])  # warm-up (allocator, oneDNN primitive cache, TF graph optimisation)
        rates[f"extract{size}"] = batch / best_time(lambda: extractor.extract(images), repeats)
    arr = rng.integers(0, 256, (batch, 512, 512, 3)).astype(np.float32)
    if backend == "torch":
        x = torch.from_numpy(arr)
        rates["resize"] = batch / best_time(lambda: resize_bilinear_tf1(x, 299), max(repeats, 3))
    else:
        import tensorflow as tf  # noqa: PLC0415

        def tf_resize() -> object:
            return tf.raw_ops.ResizeBilinear(images=arr, size=[299, 299], align_corners=False,
                                             half_pixel_centers=False).numpy()

        tf_resize()
        rates["resize"] = batch / best_time(tf_resize, max(repeats, 3))
    return rates


def run(quick: bool) -> list[PerfRow]:
    """Images/s of `extract` for the torch and tf backends at 64, 256 and 512 px (CPU), and of the resize alone."""
    from benchmark.extractors.inception import write_test_graph

    batch, repeats = (2, 1) if quick else (16, 3)
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="admbench-perf-inception-") as tmp:
        graph = str(Path(tmp) / "synthetic_graph.pb")
        write_test_graph(graph, seed=0)
        saved = os.environ.get("OMP_WAIT_POLICY")
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read by libgomp when the child process loads torch
        try:
            with ctx.Pool(1) as pool:
                ours = pool.apply(_measure, ("torch", graph, batch, repeats))
        finally:
            if saved is None:
                os.environ.pop("OMP_WAIT_POLICY", None)
        theirs: dict[str, float] | None = None
        if _tf_available():
            with ctx.Pool(1) as pool:
                theirs = pool.apply(_measure, ("tf", graph, batch, repeats))
    note = f"CPU, torch threads {int(ours['threads'])}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'PASSIVE')}"
    note += "" if theirs else "; TensorFlow not installed"
    rows = [
        PerfRow(section=SECTION, name=f"extract {size}px -> pool/spatial/logits (batch {batch})",
                ours=ours[f"extract{size}"], baseline=None if theirs is None else theirs[f"extract{size}"],
                unit="img/s", higher_is_better=True, baseline_name="TensorFlow, same GraphDef", note=note)
        for size in _SIZES
    ]
    rows.append(PerfRow(section=SECTION, name=f"TF1 legacy bilinear resize 512->299 (batch {batch})",
                        ours=ours["resize"], baseline=None if theirs is None else theirs["resize"], unit="img/s",
                        higher_is_better=True, baseline_name="tf.raw_ops.ResizeBilinear", note="bit-exact on CPU"))
    return rows
