"""The training loop shared by the diffusion model and the noisy classifier.

AdamW with optional linear learning-rate anneal, EMA at several rates, gradient clipping, bf16/fp16 autocast
(fp16 with dynamic loss scaling), micro-batches, DDP over torchrun processes (each takes a contiguous slice of
the global batch), checkpoints holding everything needed to continue bit for bit, and SIGTERM/SIGINT handling
(checkpoint at the next step boundary, then TrainingInterrupted with exit code 143/130).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import nn

from benchmark.distributed import World, barrier, init_from_env
from benchmark.errors import InputError
from benchmark.progress import QuietReporter, Reporter
from runners import checkpointing as ckpt
from runners.config import AnyRunConfig, TrainConfig
from runners.data_order import STREAM_GLOBAL, STREAM_INIT, BatchSource, LocalBatch, stream_seed
from runners.rundir import RunLog, append_stats, prepare_run_dir, rewind_stats, run_dir_for


class TrainingInterrupted(Exception):
    """Raised after the checkpoint that follows SIGTERM / SIGINT; `exit_code` is 128 + the signal number."""

    def __init__(self, signum: int, step: int) -> None:
        self.signum = signum
        self.step = step
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by signal {signum} at step {step}; checkpoint written, rerun to resume")


class Task(Protocol):
    """What differs between diffusion and classifier training."""

    def prepare(self, step: int) -> None:
        """Draw this step's global random choices (timesteps, weights)."""

    def losses(self, model: nn.Module, batch: LocalBatch, lo: int, hi: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(weighted per-sample loss to minimise, per-sample detached terms to log) for global positions lo..hi-1."""

    def finish(self, terms: dict[str, torch.Tensor], lo: int, hi: int) -> None:
        """After the step: e.g. update the loss-aware timestep sampler (collective)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


# ----------------------------------------------------------------------------------------------------------------
# Devices, signals.


def resolve_device(device: str, world: World) -> torch.device:
    """The device of this process: cuda:LOCAL_RANK under torchrun when `device` is "cuda"."""
    if device == "cuda" and world.size > 1:
        return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}")
    return torch.device(device)


@dataclass
class _SignalFlag:
    signum: int = 0
    previous: dict[int, Any] = field(default_factory=dict)

    def handler(self, signum: int, frame: Any) -> None:
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[_SignalFlag]:
    """Install SIGTERM/SIGINT handlers that only set a flag (restored afterwards); no-op outside the main thread."""
    flag = _SignalFlag()
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            flag.previous[sig] = signal.signal(sig, flag.handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield flag
    finally:
        for sig, prev in flag.previous.items():
            signal.signal(sig, prev)


def _agree_max(value: int, world: World, device: torch.device) -> int:
    if world.size == 1:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


# ----------------------------------------------------------------------------------------------------------------
# EMA


class EMA:
    """Exponential moving averages of the parameters at several rates: ema <- rate * ema + (1 - rate) * param."""

    def __init__(self, model: nn.Module, rates: tuple[float, ...]) -> None:
        self.model = model
        self.rates = rates
        self.names = [n for n, _ in model.named_parameters()]
        self.params = {r: [p.detach().clone().float() for p in model.parameters()] for r in rates}

    @torch.no_grad()
    def update(self) -> None:
        current = [p.detach().float() for p in self.model.parameters()]
        for rate, avg in self.params.items():
            torch._foreach_mul_(avg, rate)
            torch._foreach_add_(avg, current, alpha=1.0 - rate)

    def state_dict(self, rate: float) -> dict[str, torch.Tensor]:
        """A full model state_dict with the averaged parameters (buffers copied from the model)."""
        out = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        out.update({n: p.clone() for n, p in zip(self.names, self.params[rate])})
        return out

    def load_state_dict(self, rate: float, state: dict[str, torch.Tensor]) -> None:
        for dst, name in zip(self.params[rate], self.names):
            dst.copy_(state[name])


# ----------------------------------------------------------------------------------------------------------------


def learning_rate(train: TrainConfig, step: int) -> float:
    """lr * (1 - step / lr_anneal_steps), floored at 0 (guided-diffusion's linear anneal), else constant."""
    if train.lr_anneal_steps is None:
        return train.lr
    return train.lr * max(0.0, 1.0 - step / train.lr_anneal_steps)


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass
class TrainingSetup:
    """Everything `run_training` needs, built by train.py / train_classifier.py."""

    config: AnyRunConfig
    model: nn.Module
    task: Task
    source: BatchSource
    kind: str  # "diffusion" or "classifier", for messages


def build_run(config: AnyRunConfig, out_root: str | Path, run_dir: str | Path | None, device: str) -> tuple[Path, World, torch.device]:
    """Join torchrun's process group, pick and prepare the run directory (rank 0 writes config.json first)."""
    world = init_from_env(device)
    dev = resolve_device(device, world)
    target = Path(run_dir) if run_dir is not None else run_dir_for(config, out_root)
    if world.is_main:
        prepare_run_dir(target, config)
    barrier(world)
    if not world.is_main:
        prepare_run_dir(target, config)  # checks the config only (the directory exists now)
    return target, world, dev


def seeded_init(seed: int, make: Callable[[], nn.Module]) -> nn.Module:
    """Build a module with weights drawn from a generator seeded by (seed, init stream); global RNG restored."""
    state = torch.get_rng_state()
    torch.manual_seed(stream_seed(seed, STREAM_INIT) % (2**63))
    try:
        return make()
    finally:
        torch.set_rng_state(state)


def run_training(
    setup: TrainingSetup,
    run_dir: Path,
    world: World,
    device: torch.device,
    reporter: Reporter | None = None,
    stop_after: int | None = None,
) -> Path:
    """Train until the last milestone (or `stop_after` steps, for tests/perf), resuming from the latest checkpoint."""
    reporter = reporter or QuietReporter()
    log = RunLog(run_dir, reporter if world.is_main else None) if world.is_main else (lambda message: None)
    cfg, train = setup.config, setup.config.train
    total = train.total_steps
    if train.batch_size % world.size:
        raise InputError(f"train.batch_size {train.batch_size} is not divisible by the {world.size} processes")
    lo, hi = train.batch_size * world.rank // world.size, train.batch_size * (world.rank + 1) // world.size
    micro = train.microbatch or (hi - lo)

    model = setup.model.to(device)
    ema = EMA(model, train.ema_rates)
    opt = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=train.precision == "fp16")

    # Resume.
    state = ckpt.load_latest_state(run_dir, log)
    start = 0 if state is None else int(state["step"])
    if _agree_max(start, world, device) != start or -_agree_max(-start, world, device) != start:
        raise InputError("processes found different latest checkpoints; is the run directory shared?", run_dir)
    if state is not None:
        model.load_state_dict(state["model"])
        for label, sd in state["ema"].items():
            rate = float(label)
            if rate in ema.params:
                ema.load_state_dict(rate, sd)
        opt.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        setup.task.load_state_dict(state["task"])
        rng = state["rng"]
        ckpt.set_rng_state(rng, device)
        log(f"resumed from {ckpt.state_path(run_dir, start).name} (step {start})")
    if start >= total:
        return run_dir
    if world.is_main:
        rewind_stats(run_dir, start)
        log(f"training {setup.kind} steps {start}..{total} on {world.size} process(es), device {device}")

    net: nn.Module = model
    if world.size > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    config_json = json.dumps(cfg.to_dict(), sort_keys=True)

    def save(step: int) -> None:
        if world.is_main:
            payload = {
                "step": step,
                "model": model.state_dict(),
                "ema": {ckpt.rate_label(r): ema.state_dict(r) for r in train.ema_rates},
                "optimizer": opt.state_dict(),
                "scaler": scaler.state_dict() if scaler.is_enabled() else {},
                "task": setup.task.state_dict(),
                "rng": ckpt.rng_state(device),
                "config": config_json,
                "world_size": world.size,
            }
            ckpt.save_state(run_dir, step, payload)
            for rate in train.ema_rates:
                ckpt.save_ema(run_dir, rate, step, ema.state_dict(rate), cfg.to_dict())
            ckpt.prune(run_dir, train.milestones)
            log(f"checkpoint {ckpt.state_path(run_dir, step).name}")
        barrier(world)

    end = total if stop_after is None else min(total, start + stop_after)
    started = time.perf_counter()
    step = start
    with stop_on_signals() as flag, reporter.task(f"train {setup.kind}", total=end - start, unit="step") as bar:
        for batch in setup.source.batches(start, end, lo, hi):
            step = batch.step
            torch.manual_seed(stream_seed(train.seed, STREAM_GLOBAL, step, world.rank) % (2**63))
            for group in opt.param_groups:
                group["lr"] = learning_rate(train, step)
            setup.task.prepare(step)
            opt.zero_grad(set_to_none=True)
            n_local = hi - lo
            parts: dict[str, list[torch.Tensor]] = {}
            for m_lo in range(0, n_local, micro):
                m_hi = min(n_local, m_lo + micro)
                sub = LocalBatch(step, batch.images[m_lo:m_hi], batch.labels[m_lo:m_hi])
                last = m_hi == n_local
                sync = contextlib.nullcontext() if last or world.size == 1 else net.no_sync()
                with sync:
                    with _autocast(device, train.precision):
                        weighted, terms = setup.task.losses(net, sub, lo + m_lo, lo + m_hi)
                    loss = weighted.float().sum() / n_local  # mean over the process's slice; DDP averages ranks
                    scaler.scale(loss).backward()
                for k, v in terms.items():
                    parts.setdefault(k, []).append(v.detach().float())
            scaler.unscale_(opt)
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip or math.inf)
            scaler.step(opt)
            scaler.update()
            ema.update()
            local_terms = {k: torch.cat(v) for k, v in parts.items()}
            setup.task.finish(local_terms, lo, hi)
            done = step + 1
            bar.advance(1)

            if done % train.log_every == 0 or done == end:
                names = sorted(local_terms)
                sums = torch.stack([local_terms[k].sum() for k in names]).to(device) if names else torch.zeros(0, device=device)
                if world.size > 1:
                    dist.all_reduce(sums)
                if world.is_main:
                    row: dict[str, Any] = {k: float(s) / train.batch_size for k, s in zip(names, sums.tolist())}
                    elapsed = time.perf_counter() - started
                    row.update(step=done, lr=learning_rate(train, step), grad_norm=float(grad_norm),
                               time=round(elapsed, 3), images_per_s=round((done - start) * train.batch_size / max(elapsed, 1e-9), 2))  # fmt: skip
                    if scaler.is_enabled():
                        row["loss_scale"] = float(scaler.get_scale())
                    append_stats(run_dir, row)

            stopping = _agree_max(flag.signum, world, device) if world.size > 1 else flag.signum
            if done % train.checkpoint_every == 0 or done in train.milestones or done == end or stopping:
                save(done)
            if stopping:
                log(f"stopped by signal {stopping} after step {done}")
                raise TrainingInterrupted(int(stopping), done)
    return run_dir
