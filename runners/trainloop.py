"""The training loop shared by the diffusion model and the noisy classifier.

AdamW (for-loop, foreach or fused kernels) with optional linear learning-rate warm-up and anneal, EMA at several
rates (with optional warm-up), gradient clipping, bf16/fp16 autocast (fp16 with dynamic loss scaling), optional
channels_last, micro-batches, DDP over torchrun processes (each takes a contiguous slice of the global batch),
checkpoints holding everything needed to continue bit for bit, and SIGTERM/SIGINT handling (checkpoint at the
next step boundary, then TrainingInterrupted with exit code 143/130). `TrainStep` is the one step function:
`admbench train` runs it and `admbench perf --section models` times it.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import nn

from benchmark.device import rank_device
from benchmark.distributed import World, barrier, init_from_env, main_decides
from benchmark.errors import InputError
from benchmark.io.outputs import check_writable_dir
from benchmark.progress import QuietReporter, Reporter
from benchmark.models.config import Precision
from runners import checkpointing as ckpt
from runners.config import AnyRunConfig, OptimizerImpl, RunKind, TrainConfig
from runners.data_order import STREAM_GLOBAL, STREAM_INIT, BatchSource, LocalBatch, stream_seed
from runners.rundir import RunDir, RunLog, rate_label
from runners.runlock import exclusive


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
    return torch.device(rank_device(device, world.size))


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
    """Exponential moving averages of the parameters at several rates: ema <- b * ema + (1 - b) * param.

    Without warm-up b is the rate itself from the first step, so the average starts at the initial weights, as
    guided-diffusion's does (harmless over 700K steps: 0.9999^700K ~ 1e-30 of them remain). With warm-up b at
    step t (1-based) is min(rate, (1 + t) / (10 + t)) (TensorFlow's ExponentialMovingAverage with num_updates):
    the initial weights fade within tens of steps, so runs of a few thousand steps get a usable average.
    """

    def __init__(self, model: nn.Module, rates: tuple[float, ...], warmup: bool) -> None:
        self.model = model
        self.rates = rates
        self.warmup = warmup
        self.names = [n for n, _ in model.named_parameters()]
        self.params = {r: [p.detach().clone().float() for p in model.parameters()] for r in rates}

    def decay(self, rate: float, step: int) -> float:
        """The averaging factor b of the update after optimiser step `step` (1-based)."""
        return min(rate, (1 + step) / (10 + step)) if self.warmup else rate

    @torch.no_grad()
    def update(self, step: int) -> None:
        current = [p.detach().float() for p in self.model.parameters()]
        for rate, avg in self.params.items():
            b = self.decay(rate, step)
            torch._foreach_mul_(avg, b)
            torch._foreach_add_(avg, current, alpha=1.0 - b)

    def state_dict(self, rate: float) -> dict[str, torch.Tensor]:
        """A full model state_dict with the averaged parameters (buffers copied from the model)."""
        out = {k: v.detach().clone().contiguous() for k, v in self.model.state_dict().items()}
        out.update({n: p.clone().contiguous() for n, p in zip(self.names, self.params[rate])})
        return out

    def load_state_dict(self, rate: float, state: dict[str, torch.Tensor]) -> None:
        for dst, name in zip(self.params[rate], self.names):
            dst.copy_(state[name])


# ----------------------------------------------------------------------------------------------------------------


def learning_rate(train: TrainConfig, step: int) -> float:
    """The learning rate of (0-based) step `step`: linear warm-up over `lr_warmup_steps`, then constant or
    guided-diffusion's linear anneal lr * (1 - step / lr_anneal_steps), floored at 0."""
    lr = train.lr
    if train.lr_warmup_steps:
        lr *= min(1.0, (step + 1) / train.lr_warmup_steps)
    if train.lr_anneal_steps is not None:
        lr *= max(0.0, 1.0 - step / train.lr_anneal_steps)
    return lr


def autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager:
    """torch.autocast to bf16 / fp16 (convolutions and matmuls; norms and the loss stay float32), or nothing."""
    if precision is Precision.FP32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=precision.torch_dtype)


def build_optimizer(model: nn.Module, train: TrainConfig) -> torch.optim.AdamW:
    """AdamW with the configured implementation (for-loop, foreach or fused kernels)."""
    impl = train.optimizer
    return torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay,
                             foreach=impl is OptimizerImpl.FOREACH, fused=True if impl is OptimizerImpl.FUSED else None)  # fmt: skip


@dataclass
class TrainingSetup:
    """Everything `run_training` needs, built by train.py / train_classifier.py."""

    config: AnyRunConfig
    model: nn.Module
    task: Task
    source: BatchSource
    kind: RunKind  # DIFFUSION or CLASSIFIER


def join_run(config: AnyRunConfig, out_root: str | Path, run_dir: str | Path | None, device: str) -> tuple[RunDir, World, torch.device]:
    """Join torchrun's process group and pick the run directory (one holding another config is refused).

    Writes nothing: the directory is made by `claimed_run`, once the caller has validated its inputs.
    """
    world = init_from_env(device)
    dev = resolve_device(device, world)
    target = RunDir(Path(run_dir)) if run_dir is not None else RunDir.for_record(config, out_root)
    target.holds(config)
    return target, world, dev


def finished(run: RunDir, config: AnyRunConfig) -> bool:
    """Whether the last milestone's state and EMA files are all present and readable (a truncated one is not)."""
    train = config.train
    return not ckpt.checkpoint_problems(run, train.milestones[-1], train.ema_rates)


@contextlib.contextmanager
def claimed_run(target: RunDir, config: AnyRunConfig, world: World) -> Iterator[None]:
    """Make the run directory (rank 0 writes config.json first) and hold its training lock for the block.

    The config is checked again under the lock (another process may have made the directory meanwhile). A
    directory that cannot be written, or that another training process holds, is an InputError on every rank.
    """
    with contextlib.ExitStack() as stack:

        def claim() -> None:
            check_writable_dir(target.path, "run directory")
            stack.enter_context(exclusive(target.train_lock, target.path, f"admbench train {target.name}"))
            target.create(config)

        main_decides(world, claim)
        if not world.is_main:
            target.create(config)  # checks the config only (the directory exists now)
        yield


def seeded_init(seed: int, make: Callable[[], nn.Module]) -> nn.Module:
    """Build a module with weights drawn from a generator seeded by (seed, init stream); global RNG restored."""
    state = torch.get_rng_state()
    torch.manual_seed(stream_seed(seed, STREAM_INIT) % (2**63))
    try:
        return make()
    finally:
        torch.set_rng_state(state)


class TrainStep:
    """One optimiser step of a training run: the code path `admbench train` takes and `perf` times.

    Holds the model (in its configured memory format), the DDP wrapper, AdamW, the fp16 loss scaler and the
    EMA; `__call__` runs forward/backward over the micro-batches of this process's slice of the global batch,
    clips, steps, updates the EMA and the task, and returns (gradient norm, per-sample loss terms).
    """

    def __init__(self, setup: TrainingSetup, world: World, device: torch.device) -> None:
        train = setup.config.train
        if train.batch_size % world.size:
            raise InputError(f"train.batch_size {train.batch_size} is not divisible by the {world.size} processes")
        self.train, self.task, self.world, self.device = train, setup.task, world, device
        self.lo, self.hi = train.batch_size * world.rank // world.size, train.batch_size * (world.rank + 1) // world.size
        self.micro = train.microbatch or (self.hi - self.lo)
        self.memory_format = torch.channels_last if train.channels_last else torch.contiguous_format
        self.model = setup.model.to(device, memory_format=self.memory_format)
        self.ema = EMA(self.model, train.ema_rates, train.ema_warmup)
        self.opt = build_optimizer(self.model, train)
        self.scaler = torch.amp.GradScaler(device.type, enabled=train.precision is Precision.FP16)
        self.net: nn.Module = self.model
        if world.size > 1:
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None)

    def __call__(self, batch: LocalBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        train, step = self.train, batch.step
        torch.manual_seed(stream_seed(train.seed, STREAM_GLOBAL, step, self.world.rank) % (2**63))
        for group in self.opt.param_groups:
            group["lr"] = learning_rate(train, step)
        self.task.prepare(step)
        self.opt.zero_grad(set_to_none=True)
        n_local = self.hi - self.lo
        parts: dict[str, list[torch.Tensor]] = {}
        for m_lo in range(0, n_local, self.micro):
            m_hi = min(n_local, m_lo + self.micro)
            images = batch.images[m_lo:m_hi].contiguous(memory_format=self.memory_format)
            sub = LocalBatch(step, images, batch.labels[m_lo:m_hi])
            last = m_hi == n_local
            sync = contextlib.nullcontext() if last or self.world.size == 1 else self.net.no_sync()
            with sync:
                with autocast(self.device, train.precision):
                    weighted, terms = self.task.losses(self.net, sub, self.lo + m_lo, self.lo + m_hi)
                loss = weighted.float().sum() / n_local  # mean over the process's slice; DDP averages ranks
                self.scaler.scale(loss).backward()
            for k, v in terms.items():
                parts.setdefault(k, []).append(v.detach().float())
        self.scaler.unscale_(self.opt)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), train.grad_clip or math.inf)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.ema.update(step + 1)
        local_terms = {k: torch.cat(v) for k, v in parts.items()}
        self.task.finish(local_terms, self.lo, self.hi)
        return grad_norm, local_terms

    def state_dict(self, step: int, config_json: str) -> dict[str, Any]:
        """Everything a checkpoint needs to continue bit for bit."""
        return {
            "step": step,
            "model": {k: v.contiguous() for k, v in self.model.state_dict().items()},
            "ema": {rate_label(r): self.ema.state_dict(r) for r in self.train.ema_rates},
            "optimizer": self.opt.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "task": self.task.state_dict(),
            "rng": ckpt.rng_state(self.device),
            "config": config_json,
            "world_size": self.world.size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        for label, sd in state["ema"].items():
            rate = float(label)
            if rate in self.ema.params:
                self.ema.load_state_dict(rate, sd)
        self.opt.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.task.load_state_dict(state["task"])
        ckpt.set_rng_state(state["rng"], self.device)


def run_training(
    setup: TrainingSetup,
    run: RunDir,
    world: World,
    device: torch.device,
    reporter: Reporter | None = None,
    stop_after: int | None = None,
) -> Path:
    """Train until the last milestone (or `stop_after` steps, for tests/perf), resuming from the latest checkpoint."""
    reporter = reporter or QuietReporter()
    log = RunLog(run.log_path, reporter) if world.is_main else (lambda message: None)
    cfg, train = setup.config, setup.config.train
    total = train.total_steps
    runner = TrainStep(setup, world, device)

    # Resume.
    state = ckpt.load_latest_state(run, log)
    start = 0 if state is None else int(state["step"])
    if _agree_max(start, world, device) != start or -_agree_max(-start, world, device) != start:
        raise InputError("processes found different latest checkpoints; is the run directory shared?", run.path)
    if state is not None:
        runner.load_state_dict(state)
        log(f"resumed from {run.state(start).name} (step {start})")
        if world.is_main:
            for rate in train.ema_rates:  # EMA files lost or torn after their state was written: the state has them
                if (problem := ckpt.ema_problem(run, rate, start)) is not None:
                    ckpt.save_ema(run, rate, start, runner.ema.state_dict(rate), cfg.to_dict())
                    log(f"{problem}; rewrote it from {run.state(start).name}")
    if start >= total:
        return run.path
    if world.is_main:
        run.rewind_stats(start)
        log(f"training {setup.kind.value} steps {start}..{total} on {world.size} process(es), device {device}")
    config_json = json.dumps(cfg.to_dict(), sort_keys=True)

    def save(step: int) -> None:
        if world.is_main:
            ckpt.save_state(run, step, runner.state_dict(step, config_json))
            for rate in train.ema_rates:
                ckpt.save_ema(run, rate, step, runner.ema.state_dict(rate), cfg.to_dict())
            ckpt.prune(run, train.milestones)
            log(f"checkpoint {run.state(step).name}")
        barrier(world)

    end = total if stop_after is None else min(total, start + stop_after)
    started = time.perf_counter()
    with stop_on_signals() as flag, reporter.task(f"train {setup.kind.value}", total=end - start, unit="step") as bar:
        for batch in setup.source.batches(start, end, runner.lo, runner.hi):
            step = batch.step
            grad_norm, local_terms = runner(batch)
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
                    if runner.scaler.is_enabled():
                        row["loss_scale"] = float(runner.scaler.get_scale())
                    run.append_stats(row)

            stopping = _agree_max(flag.signum, world, device) if world.size > 1 else flag.signum
            if done % train.checkpoint_every == 0 or done in train.milestones or done == end or stopping:
                save(done)
            if stopping:
                log(f"stopped by signal {stopping} after step {done}")
                raise TrainingInterrupted(int(stopping), done)
    return run.path
