"""Perf section `models`: UNet training step and forward throughput, fast path vs the plain fp32 eager path.

The baseline is the same network with the reference arithmetic (einsum attention with a float32 softmax,
attention recomputed in backward as the reference always does), float32, contiguous NCHW and the default
AdamW. Ours: fused SDPA attention, bf16 autocast, fused AdamW (and channels_last on CUDA); a second row keeps float32 to
show what the implementation alone buys. Training step = forward + backward + AdamW step of the epsilon-MSE
loss on random images and random timesteps. On CPU both are timed by the calling thread's CPU time with one
thread, so the ratio stays meaningful on a loaded machine; on CUDA by wall time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from benchmark.models import UNet, UNetConfig
from benchmark.models.speed import SpeedOptions, adamw, autocast, prepare
from benchmark.perf.common import PerfRow, best_time

SECTION = "models"
BASELINE = "plain fp32 eager"


@dataclass(frozen=True)
class _Case:
    name: str
    config: UNetConfig
    batch: int
    repeats: int


def _table1_multires(model_channels: int) -> UNetConfig:
    """Paper Table 1 baseline (128x128, depth 2, 1 head, no BigGAN up/down) with attention at 32,16,8."""
    return UNetConfig(
        image_size=128, model_channels=model_channels, channel_mult=(1, 1, 2, 3, 4), num_res_blocks=2,
        attention_resolutions=(32, 16, 8), num_heads=1, num_head_channels=None, resblock_updown=False,
        learn_sigma=True, num_classes=1000,
    )  # fmt: skip


def _cases(quick: bool) -> list[_Case]:
    tiny = UNetConfig(
        image_size=32, model_channels=64, channel_mult=(1, 2, 2), num_res_blocks=1, attention_resolutions=(16, 8),
        num_heads=1, num_head_channels=None, num_classes=10,
    )  # fmt: skip
    if quick:
        return [_Case("tiny 32px ch64", tiny, 4, 2), _Case("table1 multi-res 128px ch32", _table1_multires(32), 1, 1)]
    return [_Case("tiny 32px ch64", tiny, 16, 3), _Case("table1 multi-res 128px ch160", _table1_multires(160), 1, 3)]


def _train_step(config: UNetConfig, batch: int, options: SpeedOptions, device: torch.device) -> Callable[[], None]:
    torch.manual_seed(0)
    model = prepare(UNet(config, attention_impl=options.attention_impl).to(device), options)  # type: ignore[arg-type]
    opt = adamw(model, options)
    gen = torch.Generator(device="cpu").manual_seed(1)
    size = config.image_size
    x0 = torch.randn(batch, config.in_channels, size, size, generator=gen).to(device)
    noise = torch.randn(x0.shape, generator=gen).to(device)
    t = torch.randint(0, 1000, (batch,), generator=gen).to(device)
    y = None if config.num_classes is None else torch.randint(0, config.num_classes, (batch,), generator=gen).to(device)
    alpha_bar = torch.rand(batch, 1, 1, 1, generator=gen).to(device)
    x_t = alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise  # q(x_t | x_0) with a random noise level
    if options.channels_last:
        x_t = x_t.contiguous(memory_format=torch.channels_last)

    def step() -> None:
        with autocast(options, device):
            out = model(x_t, t, y)
        loss = (out[:, : config.out_channels].float() - noise).square().mean()  # epsilon MSE (L_simple)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def _forward(config: UNetConfig, batch: int, options: SpeedOptions, device: torch.device) -> Callable[[], None]:
    torch.manual_seed(0)
    net = UNet(config, attention_impl=options.attention_impl).to(device).eval()  # type: ignore[arg-type]
    model = prepare(net, options)
    gen = torch.Generator(device="cpu").manual_seed(2)
    size = config.image_size
    x = torch.randn(batch, config.in_channels, size, size, generator=gen).to(device)
    if options.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    t = torch.randint(0, 1000, (batch,), generator=gen).to(device)
    y = None if config.num_classes is None else torch.randint(0, config.num_classes, (batch,), generator=gen).to(device)

    def forward() -> None:
        with torch.no_grad(), autocast(options, device):
            model(x, t, y)
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


def _compare(
    make_ours: Callable[[], Callable[[], None]],
    make_base: Callable[[], Callable[[], None]],
    batch: int,
    repeats: int,
    device: torch.device,
) -> tuple[float, float]:
    """Images/s of ours and of the baseline, timed alternately (best of `repeats`) so load drifts hit both."""
    measure = _timer(device)
    ours, base = make_ours(), make_base()
    ours(), base()  # warm-up: kernel selection, allocator, optimizer state
    t_ours = t_base = float("inf")
    for _ in range(repeats):
        t_ours = min(t_ours, measure(ours))
        t_base = min(t_base, measure(base))
    return batch / t_ours, batch / t_base


def run(quick: bool) -> list[PerfRow]:
    """Training-step and forward throughput (images/s) of ours vs the plain fp32 eager path."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)  # see _timer
    try:
        return _run(quick, device)
    finally:
        torch.set_num_threads(threads)


def _run(quick: bool, device: torch.device) -> list[PerfRow]:
    reference = SpeedOptions.reference()
    fast = SpeedOptions.for_device(device)
    layout = " + channels_last" if fast.channels_last else ""
    variants = (
        ("bf16", fast, f"SDPA + bf16 autocast{layout} + fused AdamW"),
        ("fp32", replace(fast, bf16_autocast=False), f"SDPA{layout} + fused AdamW, float32"),
    )
    where = "cuda wall time" if device.type == "cuda" else "cpu 1 thread, CPU time"
    rows: list[PerfRow] = []
    for case in _cases(quick):
        cfg, b, r = case.config, case.batch, case.repeats
        for label, opts, note in variants:
            ours, base = _compare(
                lambda o=opts: _train_step(cfg, b, o, device),  # type: ignore[misc]
                lambda: _train_step(cfg, b, reference, device),
                b, r, device,
            )  # fmt: skip
            rows.append(PerfRow(
                SECTION, f"train step {case.name} b{b} ({label}, {where})", ours, base, "img/s", True,
                BASELINE, note,
            ))  # fmt: skip
        ours, base = _compare(
            lambda: _forward(cfg, b, fast, device), lambda: _forward(cfg, b, reference, device), b, r, device
        )
        rows.append(PerfRow(
            SECTION, f"forward {case.name} b{b} (bf16, {where})", ours, base, "img/s", True, BASELINE,
            f"SDPA + bf16 autocast{layout}, no_grad",
        ))  # fmt: skip
    return rows
