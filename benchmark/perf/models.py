"""Perf section `models`: the training step `admbench train` runs (runners.trainloop.TrainStep) and the network
forward that sampling runs, with the presets' settings against guided-diffusion's defaults at the same network.

Ours: the run's own TrainConfig (bf16 autocast, foreach AdamW, fused SDPA attention; channels_last where the
preset asks for it). Baseline: the same network, data, loss and step code with guided-diffusion's default
settings: float32, NCHW, its einsum attention with a float32 softmax, and torch's for-loop AdamW. Both are
built from the same seed and timed alternately (best of N). On CPU the calling thread's CPU time with one
thread, so the ratio stays meaningful on a loaded machine; on CUDA wall time.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.distributed import World
from benchmark.models import UNet
from benchmark.models.config import Precision, UNetConfig
from benchmark.paper import GUIDANCE_ARCH, TABLE1
from benchmark.perf.common import PerfRow, best_time
from runners.config import OptimizerImpl, RunConfig
from runners.presets import CPU, PAPER, run_config
from runners.train import diffusion_setup
from runners.trainloop import TrainStep, autocast

SECTION = "models"
BASELINE = "guided-diffusion defaults (fp32, einsum attention, for-loop AdamW, NCHW)"


@dataclass(frozen=True)
class _Case:
    name: str
    config: RunConfig
    repeats: int


def _synthetic(path: Path, size: int, channels: int, n: int) -> str:
    rng = np.random.default_rng(0)
    np.savez(path, rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8), rng.integers(0, 10, n))
    return str(path)


def _cases(quick: bool, root: Path, device: torch.device) -> list[_Case]:
    """The cpu preset's guidance / Table 3 network (16 px) and the paper's Table 1 baseline with multi-resolution
    attention (128 px, 160 channels), each with its preset's training settings."""
    small = run_config(CPU, GUIDANCE_ARCH, _synthetic(root / "16.npz", 16, 1, 256), (1000,), 0, 10)
    if quick:
        small = dataclasses.replace(small, train=dataclasses.replace(small.train, batch_size=16))
    arch = dataclasses.replace(TABLE1[0].arch, attention=(32, 16, 8))
    big = run_config(PAPER, arch, _synthetic(root / "128.npz", 128, 3, 8), (1000,), 0, 10)
    # fp16 with loss scaling is the paper's setting on GPUs; CPUs have no fast fp16, so ours uses bf16 there.
    precision = Precision.FP16 if device.type == "cuda" else Precision.BF16
    big_train = dataclasses.replace(big.train, batch_size=1 if quick else 2, precision=precision,
                                    channels_last=device.type == "cuda")  # fmt: skip
    if quick:
        big = dataclasses.replace(big, unet=dataclasses.replace(big.unet, model_channels=32))
    return [_Case(f"cpu preset Table 3 / guidance net 16px b{small.train.batch_size}", small, 2 if quick else 5),
            _Case(f"Table 1 multi-res 128px ch{big.unet.model_channels} b{big_train.batch_size}",
                  dataclasses.replace(big, train=big_train), 1 if quick else 3)]  # fmt: skip


def _baseline(config: RunConfig) -> RunConfig:
    train = dataclasses.replace(config.train, precision=Precision.FP32, optimizer=OptimizerImpl.FOR_LOOP,
                                channels_last=False)  # fmt: skip
    return dataclasses.replace(config, train=train)


def _train_step(config: RunConfig, attention: str, device: torch.device) -> Callable[[], None]:
    """One `TrainStep` call per invocation, on the run's own data source (batches of consecutive steps)."""
    setup = diffusion_setup(config, device, num_workers=0)
    setup.model = UNet(config.unet, attention_impl=attention)  # type: ignore[arg-type]
    step = TrainStep(setup, World(rank=0, size=1), device)
    batches = setup.source.batches(0, 10_000, step.lo, step.hi)

    def run() -> None:
        step(next(batches))
        if device.type == "cuda":
            torch.cuda.synchronize()

    return run


def _forward(config: UNetConfig, batch: int, attention: str, precision: Precision, device: torch.device) -> Callable[[], None]:
    torch.manual_seed(0)
    net = UNet(config, attention_impl=attention).to(device).eval()  # type: ignore[arg-type]
    gen = torch.Generator(device="cpu").manual_seed(2)
    size = config.image_size
    x = torch.randn(batch, config.in_channels, size, size, generator=gen).to(device)
    t = torch.randint(0, 1000, (batch,), generator=gen).to(device)
    y = None if config.num_classes is None else torch.randint(0, config.num_classes, (batch,), generator=gen).to(device)

    def forward() -> None:
        with torch.no_grad(), autocast(device, precision):
            net(x, t, y)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return forward


def _timer(device: torch.device) -> Callable[[Callable[[], None]], float]:
    """Wall time on CUDA; on CPU the calling thread's CPU time (one thread), which machine load barely moves."""
    if device.type == "cuda":
        return lambda fn: best_time(fn, 1)

    def cpu_time(fn: Callable[[], None]) -> float:
        start = time.thread_time()
        fn()
        return time.thread_time() - start

    return cpu_time


def _compare(ours: Callable[[], None], base: Callable[[], None], repeats: int, device: torch.device) -> tuple[float, float]:
    """Seconds per call of ours and of the baseline, timed alternately (best of `repeats`) so load drifts hit both."""
    measure = _timer(device)
    ours(), base()  # warm-up: kernel selection, allocator, optimizer state
    t_ours = t_base = float("inf")
    for _ in range(repeats):
        t_ours = min(t_ours, measure(ours))
        t_base = min(t_base, measure(base))
    return t_ours, t_base


def run(quick: bool) -> list[PerfRow]:
    """Training-step and forward throughput (images/s) of ours vs guided-diffusion's default settings."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)  # see _timer
    try:
        with tempfile.TemporaryDirectory(prefix="admbench-perf-models-") as tmp:
            return _run(quick, device, Path(tmp))
    finally:
        torch.set_num_threads(threads)


def _run(quick: bool, device: torch.device, root: Path) -> list[PerfRow]:
    where = "cuda wall time" if device.type == "cuda" else "cpu 1 thread, CPU time"
    rows: list[PerfRow] = []
    for case in _cases(quick, root, device):
        cfg, batch = case.config, case.config.train.batch_size
        t = cfg.train
        note = f"{t.precision.value} autocast, AdamW {t.optimizer.value}, SDPA attention" + (
            ", channels_last" if t.channels_last else "")  # fmt: skip
        t_ours, t_base = _compare(_train_step(cfg, "sdpa", device), _train_step(_baseline(cfg), "naive", device),
                                  case.repeats, device)  # fmt: skip
        rows.append(PerfRow(SECTION, f"admbench train step: {case.name} ({where})", batch / t_ours, batch / t_base,
                            "img/s", True, BASELINE, note))  # fmt: skip
        n = 4 * batch
        t_ours, t_base = _compare(_forward(cfg.unet, n, "sdpa", t.precision, device),
                                  _forward(cfg.unet, n, "naive", Precision.FP32, device), case.repeats, device)  # fmt: skip
        rows.append(PerfRow(SECTION, f"sampling forward: {case.name.rsplit(' b', 1)[0]} b{n} ({where})", n / t_ours,
                            n / t_base, "img/s", True, "fp32, einsum attention",
                            f"{t.precision.value} autocast, SDPA, no_grad"))  # fmt: skip
    return rows
