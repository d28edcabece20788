"""Perf: Inception-v3 feature extraction and end-to-end `evaluate`, PyTorch port vs TensorFlow on the same GraphDef.

Both backends load one synthetic graph (the real graph's structure, random weights) written to a temp dir, so no
download is needed; throughput does not depend on the weight values. Each measurement runs in its own spawned
process, one after the other, so that the two frameworks' thread pools never compete for the same cores.
The torch processes run with OMP_WAIT_POLICY=PASSIVE (unless set): on a shared, oversubscribed machine OpenMP's
default spin-waiting at every barrier makes each op wait for a descheduled thread (10-20x slower at 2 threads);
TensorFlow's own thread pool does not use OpenMP.

Rows: images/s at 64, 256 and 512 px; the bare TF1 resize 512 -> 299; the network's arithmetic rate (FLOPs per
image counted by torch.utils.flop_counter) against this device's float32 matmul rate, which bounds what any
direct-convolution implementation can reach; and `evaluate` end to end (reading archives, features, FID, sFID,
IS, precision/recall) for N samples + M reference images at 256 px. On a CUDA machine the torch side runs on the
GPU and the evaluation is the paper's size, 50k samples + 10k reference images; TensorFlow uses a GPU when it
sees one (and is left out of the 50k evaluation when it does not, which would take hours on CPU).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.extractors.inception import write_test_graph
from benchmark.io.npz_writer import write_image_archive
from benchmark.perf.common import PerfRow, best_time

SECTION = "inception"
_SIZES = (64, 256, 512)
_EVAL_SIZE = 256


@dataclass(frozen=True)
class _Plan:
    """What to measure where: torch device, batch, repeats, evaluation archive sizes."""

    device: str
    batch: int
    repeats: int
    eval_samples: int
    eval_refs: int


def _plan(quick: bool, cuda: bool) -> _Plan:
    if cuda:
        return _Plan("cuda", 64 if quick else 256, 1 if quick else 3, 512 if quick else 50_000,
                     512 if quick else 10_000)
    return _Plan("cpu", 2 if quick else 16, 1 if quick else 3, 8 if quick else 256, 8 if quick else 256)


def _tf_available() -> bool:
    try:
        import tensorflow  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def _tf_device() -> str:
    import tensorflow as tf  # noqa: PLC0415

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch  # noqa: PLC0415

        torch.cuda.synchronize()


def _extractor(backend: str, graph: str, plan: _Plan):  # noqa: ANN202  (a FeatureExtractor)
    from benchmark.extractors.base import ExtractorOptions  # noqa: PLC0415
    from benchmark.extractors.registry import build_extractor  # noqa: PLC0415

    device = plan.device if backend == "torch" else ("cuda" if _tf_device() == "gpu" else "cpu")
    return build_extractor("inception-v3", ExtractorOptions(weights_path=Path(graph), batch_size=plan.batch,
                                                            backend=backend, device=device))


def _measure(backend: str, graph: str, plan: _Plan) -> dict[str, float | str]:
    """Runs in a fresh process: images/s per size, the bare resize 512 -> 299, and (torch) FLOPs and matmul rate."""
    import torch  # noqa: PLC0415

    from benchmark.extractors.inception.resize import resize_bilinear_tf1  # noqa: PLC0415

    extractor = _extractor(backend, graph, plan)
    rng = np.random.default_rng(0)
    out: dict[str, float | str] = {"threads": float(torch.get_num_threads())}
    out["device"] = plan.device if backend == "torch" else _tf_device()
    for size in _SIZES:
        images = rng.integers(0, 256, (plan.batch, size, size, 3), dtype=np.uint8)
        extractor.extract(images)  # warm-up at full size (allocator, oneDNN / cuDNN kernels, TF graph optimisation)
        out[f"extract{size}"] = plan.batch / best_time(lambda: extractor.extract(images), plan.repeats)
    arr = rng.integers(0, 256, (plan.batch, 512, 512, 3)).astype(np.float32)
    if backend == "torch":
        x = torch.from_numpy(arr).to(plan.device)

        def resize() -> None:
            resize_bilinear_tf1(x, 299)
            _sync(plan.device)

        resize()
        out["resize"] = plan.batch / best_time(resize, max(plan.repeats, 3))
        out["flops_per_image"] = _network_flops(extractor.network)
        out["matmul_gflops"] = _matmul_gflops(plan.device)
    else:
        import tensorflow as tf  # noqa: PLC0415

        def tf_resize() -> object:
            return tf.raw_ops.ResizeBilinear(images=arr, size=[299, 299], align_corners=False,
                                             half_pixel_centers=False).numpy()

        tf_resize()
        out["resize"] = plan.batch / best_time(tf_resize, max(plan.repeats, 3))
    return out


def _network_flops(network) -> float:  # noqa: ANN001
    """FLOPs of one 299x299 image through the network body, counted by torch.utils.flop_counter (2 per MAC)."""
    import torch  # noqa: PLC0415
    from torch.utils.flop_counter import FlopCounterMode  # noqa: PLC0415

    param = next(network.parameters())
    x = torch.zeros(1, 3, 299, 299, device=param.device).contiguous(memory_format=torch.channels_last)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        network.features(x)
    return float(counter.get_total_flops())


def _matmul_gflops(device: str) -> float:
    """This device's float32 matmul rate (GFLOP/s, TF32 off): the practical ceiling of direct convolutions."""
    import torch  # noqa: PLC0415

    n = 8192 if device.startswith("cuda") else 2048
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)

        def mm() -> None:
            a @ b
            _sync(device)

        mm()
        return 2 * n**3 / best_time(mm, 5) / 1e9
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


def _random_batches(count: int, seed: int, chunk: int = 1000) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    for start in range(0, count, chunk):
        yield rng.integers(0, 256, (min(chunk, count - start), _EVAL_SIZE, _EVAL_SIZE, 3), dtype=np.uint8)


def _evaluate(backend: str, graph: str, ref: str, sample: str, plan: _Plan) -> dict[str, float]:
    """Runs in a fresh process: wall time of `evaluate` (no feature cache) and its metrics."""
    from benchmark.evaluation.evaluate import evaluate  # noqa: PLC0415
    from benchmark.evaluation.settings import EvalSettings  # noqa: PLC0415

    extractor = _extractor(backend, graph, plan)
    start = time.perf_counter()
    result = evaluate(ref, sample, extractor, EvalSettings(batch_size=plan.batch, device=plan.device)).to_dict()
    _sync(plan.device)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, **{k: float(result[k]) for k in ("fid", "sfid", "inception_score", "precision")}}


def run(quick: bool) -> list[PerfRow]:
    """Inception throughput and end-to-end evaluation, torch backend vs tf backend (same graph, same machine)."""
    plan = _plan(quick, torch.cuda.is_available())
    ctx = multiprocessing.get_context("spawn")
    have_tf = _tf_available()
    saved = os.environ.get("OMP_WAIT_POLICY")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read by libgomp when a child process loads torch

    def child(fn, *args):  # noqa: ANN001, ANN202
        with ctx.Pool(1) as pool:
            return pool.apply(fn, args)

    try:
        with tempfile.TemporaryDirectory(prefix="admbench-perf-inception-") as tmp:
            graph = str(Path(tmp) / "synthetic_graph.pb")
            write_test_graph(graph, seed=0)
            ours = child(_measure, "torch", graph, plan)
            theirs = child(_measure, "tf", graph, plan) if have_tf else None
            ref, sample = str(Path(tmp) / "ref.npz"), str(Path(tmp) / "sample.npz")
            write_image_archive(ref, (plan.eval_refs, _EVAL_SIZE, _EVAL_SIZE, 3), _random_batches(plan.eval_refs, 1))
            write_image_archive(sample, (plan.eval_samples, _EVAL_SIZE, _EVAL_SIZE, 3),
                                _random_batches(plan.eval_samples, 2))
            eval_ours = child(_evaluate, "torch", graph, ref, sample, plan)
            tf_eval = have_tf and (plan.device == "cpu" or theirs is not None and theirs["device"] == "gpu")
            eval_theirs = child(_evaluate, "tf", graph, ref, sample, plan) if tf_eval else None
    finally:
        if saved is None:
            os.environ.pop("OMP_WAIT_POLICY", None)
    return _rows(plan, ours, theirs, eval_ours, eval_theirs)


def _rows(plan: _Plan, ours: dict, theirs: dict | None, eval_ours: dict, eval_theirs: dict | None) -> list[PerfRow]:
    where = f"torch on {plan.device}"
    if plan.device == "cpu":
        where += f", {int(ours['threads'])} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'PASSIVE')}"
    tf_where = "TensorFlow not installed" if theirs is None else f"TensorFlow on {theirs['device']}"
    baseline = "TensorFlow, same GraphDef"
    rows = [
        PerfRow(SECTION, f"extract {size}px -> pool/spatial/logits (batch {plan.batch})", ours[f"extract{size}"],
                None if theirs is None else theirs[f"extract{size}"], "img/s", True, baseline, f"{where}; {tf_where}")
        for size in _SIZES
    ]
    rows.append(PerfRow(SECTION, f"TF1 legacy bilinear resize 512->299 (batch {plan.batch})", ours["resize"],
                        None if theirs is None else theirs["resize"], "img/s", True, "tf.raw_ops.ResizeBilinear",
                        "bit-exact on CPU"))
    gflop = ours["flops_per_image"] / 1e9
    ours_rate = gflop * ours["extract64"]
    note = f"network {gflop:.2f} GFLOP/img (torch.utils.flop_counter); ours {ours_rate:.0f} GFLOP/s"
    if theirs is not None:
        tf_rate = gflop * theirs["extract64"]
        note += (f", TF {tf_rate:.0f} GFLOP/s = {tf_rate / ours['matmul_gflops']:.2f}x the matmul rate; 1.5x TF "
                 f"would need {1.5 * tf_rate / ours['matmul_gflops']:.2f}x")
    rows.append(PerfRow(SECTION, f"network arithmetic rate at 64 px vs float32 matmul ({plan.device})", ours_rate,
                        ours["matmul_gflops"], "GFLOP/s", True, f"float32 matmul on {plan.device}", note))
    eval_note = f"{where}; archives of random 256 px images, no feature cache"
    if eval_theirs is not None:
        fid_diff = abs(eval_ours["fid"] - eval_theirs["fid"]) / abs(eval_theirs["fid"])
        eval_note += f"; FID torch vs tf relative difference {fid_diff:.1e}"
    rows.append(PerfRow(SECTION, f"evaluate end to end, {plan.eval_samples} samples + {plan.eval_refs} refs at "
                        f"{_EVAL_SIZE} px", eval_ours["seconds"], None if eval_theirs is None else eval_theirs["seconds"],
                        "s", False, "evaluate --backend tf", eval_note))
    return rows
