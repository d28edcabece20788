"""`admbench sample`: sample archives in the paper's format from a run directory (resumable, torchrun-ready).

Output: `<run>/samples/<tag>/samples_<N>x<H>x<W>x<C>.npz` (paths: runners.rundir) with `arr_0` uint8 NHWC
(quantised as the reference: ((x + 1) * 127.5).clamp(0, 255) truncated to uint8) and `arr_1` labels for class-conditional or guided samples,
plus `sample.json`. Samples are made in shards of `shard_size` (`shard-<start>-<stop>.npz`, written atomically),
so a killed run resumes at the first missing shard; shards are dealt to processes round-robin and merged in
index order, then removed.

Reproducibility: sample i draws all its noise from its own generator seeded by (seed, i)
(benchmark.diffusion.rng), and its label is i % num_classes (balanced classes, no permutation), so the
archive does not depend on batch size, resumption or the number of processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.diffusion.config import DiffusionConfig
from benchmark.diffusion.gaussian import GaussianDiffusion
from benchmark.diffusion.guidance import classifier_cond_fn
from benchmark.diffusion.respacing import Respacing
from benchmark.diffusion.rng import SampleRNG
from benchmark.diffusion.sampling import Sampler, ddim_sample_loop, ddpm_sample_loop
from benchmark.distributed import World, barrier, init_from_env, main_decides
from benchmark.errors import InputError
from benchmark.io.atomic import atomic_path, sha256_file, write_json_atomic
from benchmark.io.json_input import reusable_json_object
from benchmark.io.outputs import check_writable_dir
from benchmark.io.npz_writer import write_image_archive
from benchmark.models.checkpoint import load_checkpoint_strict
from benchmark.models.classifier import NoisyClassifier
from benchmark.models.unet import UNet
from benchmark.progress import QuietReporter, Reporter
from runners import checkpointing as ckpt
from runners.config import ClassifierRunConfig, ReleasedCheckpoint, RunConfig, RunKind, RunRecord, SampleConfig
from runners.gd_checkpoint import load_gd_classifier, load_gd_unet, released_diffusion
from runners.rundir import RunDir, RunLog, SampleDir, as_run_dir, config_hash, rate_label, sample_tag
from runners.runlock import exclusive
from runners.trainloop import autocast, resolve_device

DEFAULT_SHARD_SIZE = 1000
LABEL_RULE = "label of sample i = i % num_classes"


def quantize(x: torch.Tensor) -> np.ndarray:
    """float NCHW in [-1, 1] -> uint8 NHWC, exactly as the reference: ((x + 1) * 127.5).clamp(0, 255).to(uint8)."""
    return ((x + 1) * 127.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()


def balanced_labels(indices: range, num_classes: int) -> np.ndarray:
    """Label of sample i: i % num_classes."""
    return np.arange(indices.start, indices.stop, dtype=np.int64) % num_classes


# ----------------------------------------------------------------------------------------------------------------
# Loading weights


@dataclass(frozen=True)
class LoadedModel:
    """A network ready for sampling and where its weights came from."""

    model: nn.Module
    diffusion: DiffusionConfig
    num_classes: int | None
    image_size: int
    channels: int
    step: int | None
    weights: dict[str, Any]  # {"file", "sha256", "ema_rate"?}


def _available_steps(run: RunDir, use_ema: bool, rate: float | None) -> list[int]:
    states = set(run.state_steps())
    if use_ema and rate is not None:
        states |= set(run.ema_steps().get(rate, []))
    return sorted(states)


def resolve_sample_config(run: RunDir, config: SampleConfig) -> SampleConfig:
    """Fill in the run's defaults: the milestone (latest checkpoint when None) and the EMA rate (the first)."""
    record = run.config
    if record.kind is RunKind.GD_CHECKPOINT:
        return dataclasses.replace(config, milestone=None, use_ema=False, ema_rate=None)
    if not isinstance(record, RunConfig):
        raise InputError(f"cannot sample from a run of kind {record.kind.value!r} (a diffusion run or a gd checkpoint "
                         "is needed)", run.path)  # fmt: skip
    rates = record.train.ema_rates
    rate = None
    if config.use_ema:
        if not rates:
            raise InputError("this run keeps no EMA weights; sample with use_ema false (--no-ema)", run.path)
        rate = rates[0] if config.ema_rate is None else config.ema_rate
        if rate not in rates:
            raise InputError(f"EMA rate {rate} is not one of the run's rates {list(rates)}", run.path)
    steps = _available_steps(run, config.use_ema, rate)
    if not steps:
        raise InputError("the run has no checkpoint yet; train it first", run.path)
    step = steps[-1] if config.milestone is None else config.milestone
    if step not in steps:
        raise InputError(f"no checkpoint at step {step}; available steps: {steps}", run.path)
    return dataclasses.replace(config, milestone=step, ema_rate=rate)


def sampled_diffusion(record: RunRecord, source: Path) -> DiffusionConfig:
    """The diffusion process of a run record (a trained run's config, or a released checkpoint's flags)."""
    if isinstance(record, ReleasedCheckpoint) and record.kind is RunKind.GD_CHECKPOINT:
        return released_diffusion(record)
    if not isinstance(record, RunConfig):
        raise InputError(f"a run of kind {record.kind.value!r} has no diffusion model to sample", source)
    return record.diffusion


def check_respacing(diffusion: DiffusionConfig, respacing: Respacing, source: Path, origin: str = "respacing") -> None:
    """InputError naming `source` (the run's config) and `origin` (the option or file the value came from) when
    `respacing` cannot be applied to the `diffusion.steps`-step process."""
    try:
        respacing.timesteps(diffusion.steps)
    except InputError as err:
        raise InputError(f"{origin} {str(respacing)!r} does not fit the model's {diffusion.steps}-step diffusion: "
                         f"{err}", source) from None  # fmt: skip


def load_run_model(run: RunDir, config: SampleConfig, device: torch.device, log: Any) -> LoadedModel:
    """The network of a resolved SampleConfig: EMA weights (safetensors, else the state checkpoint) or raw weights."""
    record = run.config
    if isinstance(record, ReleasedCheckpoint):
        model, diffusion = load_gd_unet(record, str(device))
        cfg = model.config
        weights = {"file": record.path, "sha256": record.sha256}
        return LoadedModel(model, diffusion, cfg.num_classes, cfg.image_size, cfg.in_channels, None, weights)
    assert isinstance(record, RunConfig) and config.milestone is not None
    step = config.milestone
    model = UNet(record.unet)
    ema_file = run.ema(config.ema_rate, step) if config.ema_rate is not None else None
    if ema_file is not None and ema_file.is_file():
        state, meta = ckpt.read_ema(ema_file)
        source = ema_file
    else:
        source = run.state(step)
        full = ckpt.read_state(source)
        if config.ema_rate is not None:
            label = rate_label(config.ema_rate)
            if label not in full["ema"]:
                raise InputError(f"checkpoint holds no EMA at rate {label}", source)
            state = full["ema"][label]
            log(f"EMA weights file missing; using the EMA stored in {source.name}")
        else:
            state = full["model"]
    load_checkpoint_strict(model, state, source)
    weights = {"file": str(source), "sha256": sha256_file(source), "ema_rate": config.ema_rate}
    unet = record.unet
    return LoadedModel(model, record.diffusion, unet.num_classes, unet.image_size, unet.in_channels, step, weights)


def load_classifier(classifier_run: RunDir, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """The noisy classifier of a classifier run directory (latest checkpoint's weights) or a gd-classifier record."""
    record = classifier_run.config
    where = str(classifier_run.path)
    if isinstance(record, ReleasedCheckpoint) and record.kind is RunKind.GD_CLASSIFIER:
        return load_gd_classifier(record, str(device)), {"run": where, "file": record.path, "sha256": record.sha256}
    if not isinstance(record, ClassifierRunConfig):
        raise InputError(f"classifier_run is a run of kind {record.kind.value!r}, not a classifier", where)
    state = ckpt.load_latest_state(classifier_run, lambda m: None)
    if state is None:
        raise InputError("the classifier run has no readable checkpoint; train it first", where)
    source = classifier_run.state(int(state["step"]))
    model = NoisyClassifier(record.classifier)
    load_checkpoint_strict(model, state["model"], source)
    info = {"run": where, "hash": config_hash(record), "file": str(source), "sha256": sha256_file(source),
            "step": int(state["step"])}  # fmt: skip
    return model, info


# ----------------------------------------------------------------------------------------------------------------
# Shards


def shard_ranges(num_samples: int, shard_size: int) -> list[range]:
    return [range(s, min(num_samples, s + shard_size)) for s in range(0, num_samples, shard_size)]


def _read_shard(path: Path, r: range, shape: tuple[int, int, int], labelled: bool) -> tuple[np.ndarray, np.ndarray | None] | None:
    """A shard's arrays when the file is complete and has the expected shape; None otherwise."""
    try:
        with np.load(path, allow_pickle=False) as f:
            images = f["arr_0"]
            labels = f["arr_1"] if labelled else None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None
    if images.shape != (len(r), *shape) or images.dtype != np.uint8:
        return None
    if labelled and (labels is None or labels.shape != (len(r),)):
        return None
    return images, labels


def _checked_shard_images(out: SampleDir, r: range, shape: tuple[int, int, int], labelled: bool) -> np.ndarray:
    got = _read_shard(out.shard(r), r, shape, labelled)
    if got is None:
        raise InputError(f"shard {out.shard(r).name} is missing or damaged after sampling; rerun", out.path)
    return got[0]


def _shard_labels(path: Path) -> np.ndarray:
    """`arr_1` of a shard alone (np.load reads members lazily); the images are checked when they are merged."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return f["arr_1"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"shard labels unreadable ({exc}); rerun", path) from exc


def _write_npz(path: Path, images: np.ndarray, labels: np.ndarray | None) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        if labels is None:
            np.savez(tmp, images)
        else:
            np.savez(tmp, images, labels)


# ----------------------------------------------------------------------------------------------------------------


def _generate(
    loaded: LoadedModel,
    diffusion: GaussianDiffusion,
    config: SampleConfig,
    indices: range,
    labels: np.ndarray | None,
    cond_fn: Any,
    device: torch.device,
) -> np.ndarray:
    """uint8 NHWC images of samples `indices` (one batch)."""
    rng = SampleRNG.for_samples(config.seed, list(indices), device)
    x_T = rng.randn((len(indices), loaded.channels, loaded.image_size, loaded.image_size))
    kwargs: dict[str, object] = {}
    if labels is not None:
        kwargs["y"] = torch.from_numpy(labels).to(device)
    model = loaded.model
    model_fn = model if loaded.num_classes is not None or labels is None else (lambda x, t, y=None: model(x, t))
    with autocast(device, config.precision):
        x0 = _loop(diffusion, model_fn, x_T, rng, config, cond_fn, kwargs)
    return quantize(x0.float())


def _loop(diffusion: GaussianDiffusion, model_fn: Any, x_T: torch.Tensor, rng: SampleRNG, config: SampleConfig,
          cond_fn: Any, kwargs: dict[str, object]) -> torch.Tensor:  # fmt: skip
    if config.sampler is Sampler.DDIM:
        x0 = ddim_sample_loop(diffusion, model_fn, x_T, rng.randn_like, eta=config.eta,
                              clip_denoised=config.clip_denoised, cond_fn=cond_fn, model_kwargs=kwargs)  # fmt: skip
    else:
        x0 = ddpm_sample_loop(diffusion, model_fn, x_T, rng.randn_like, clip_denoised=config.clip_denoised,
                              cond_fn=cond_fn, model_kwargs=kwargs)  # fmt: skip
    return x0


def _finished_archive(out: SampleDir, resolved: SampleConfig) -> Path | None:
    """The archive of an earlier call with the same settings (any batch size), when its record says it is done."""
    info = reusable_json_object(out.record)
    if info is None:
        return None
    try:
        archive = out.path / info["archive"]
        same = info["sample_config"] | {"batch_size": 0} == resolved.to_dict() | {"batch_size": 0}
    except (KeyError, TypeError):
        return None
    return archive if same and archive.is_file() else None


def sample(
    run_dir: RunDir | str | Path,
    config: SampleConfig,
    device: str = "cpu",
    reporter: Reporter | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> Path:
    """Sample (or resume sampling) from a run directory; returns the final archive's path.

    Under torchrun every process calls this; shards are dealt round-robin and rank 0 merges them.
    """
    run = as_run_dir(run_dir)
    reporter = reporter or QuietReporter()
    world: World = init_from_env(device)
    dev = resolve_device(device, world)
    record = run.config
    resolved = resolve_sample_config(run, config)
    check_respacing(sampled_diffusion(record, run.config_path), resolved.respacing, run.config_path)
    tag = sample_tag(resolved)
    out = run.sample_dir(tag)
    finished = _finished_archive(out, resolved)
    if finished is not None:
        return finished
    log = RunLog(run.log_path, reporter) if world.is_main else (lambda message: None)
    started = time.perf_counter()

    with contextlib.ExitStack() as stack:

        def claim() -> None:  # by rank 0, which alone writes the record and merges; before the model is loaded
            check_writable_dir(out.path, "sample directory")
            stack.enter_context(exclusive(out.lock, run.path, f"admbench sample {tag}"))

        main_decides(world, claim)
        loaded = load_run_model(run, resolved, dev, log)
        loaded.model.to(dev).eval()
        diffusion = GaussianDiffusion.from_config(loaded.diffusion.respaced(resolved.respacing))
        cond_fn = None
        classifier_info = None
        num_classes = loaded.num_classes
        if resolved.guidance_scale != 0:
            assert resolved.classifier_run is not None
            classifier, classifier_info = load_classifier(RunDir(Path(resolved.classifier_run)), dev)
            classifier.to(dev).eval()
            ccfg = classifier.config
            if ccfg.image_size != loaded.image_size or ccfg.in_channels != loaded.channels:
                raise InputError(f"the classifier sees {ccfg.image_size}px x {ccfg.in_channels} channels, the model "
                                 f"makes {loaded.image_size}px x {loaded.channels}", resolved.classifier_run)  # fmt: skip
            if num_classes is not None and ccfg.num_classes != num_classes:
                raise InputError(f"classifier has {ccfg.num_classes} classes, the model {num_classes}",
                                 resolved.classifier_run)  # fmt: skip
            num_classes = ccfg.num_classes
            cond_fn = classifier_cond_fn(classifier, resolved.guidance_scale)
        shape = (loaded.image_size, loaded.image_size, loaded.channels)
        labelled = num_classes is not None
        shards = shard_ranges(resolved.num_samples, shard_size)
        missing = [r for r in shards if _read_shard(out.shard(r), r, shape, labelled) is None]
        mine = missing[world.rank :: world.size]
        if world.is_main:
            out.path.mkdir(parents=True, exist_ok=True)
            done = len(shards) - len(missing)
            log(f"sampling {tag}: {resolved.num_samples} samples, {done}/{len(shards)} shards already done, "
                f"{world.size} process(es), device {dev}")  # fmt: skip
        barrier(world)
        with reporter.task(f"sample {tag}", total=sum(len(r) for r in mine)) as bar:
            for r in mine:
                parts, label_parts = [], []
                for b in range(r.start, r.stop, resolved.batch_size):
                    idx = range(b, min(r.stop, b + resolved.batch_size))
                    labels = balanced_labels(idx, num_classes) if labelled else None
                    parts.append(_generate(loaded, diffusion, resolved, idx, labels, cond_fn, dev))
                    if labels is not None:
                        label_parts.append(labels)
                    bar.advance(len(idx))
                _write_npz(out.shard(r), np.concatenate(parts), np.concatenate(label_parts) if labelled else None)
        barrier(world)

        archive = out.archive(resolved.num_samples, *shape)
        if world.is_main:
            # Streamed merge: one shard in memory at a time (50k x 256 x 256 x 3 would otherwise need ~20 GB).
            labels = np.concatenate([_shard_labels(out.shard(r)) for r in shards]) if labelled else None
            images = (_checked_shard_images(out, r, shape, labelled) for r in shards)
            write_image_archive(archive, (resolved.num_samples, *shape), images, labels)
            elapsed = time.perf_counter() - started
            info = {
                "tag": tag,
                "archive": archive.name,
                "sample_config": resolved.to_dict(),
                "milestone": resolved.milestone,
                "run": {"dir": str(run.path), "hash": run.hash, "kind": record.kind.value},
                "weights": loaded.weights,
                "classifier": classifier_info,
                "num_classes": num_classes,
                "labels": LABEL_RULE if labelled else None,
                "quantization": "((x + 1) * 127.5).clamp(0, 255).to(uint8) (truncation)",
                "noise": "per-sample generators seeded by numpy SeedSequence([seed, i]) (benchmark.diffusion.rng)",
                "shard_size": shard_size,
                "sha256": sha256_file(archive),
                "timing": {"seconds_this_call": round(elapsed, 3), "processes": world.size, "device": str(dev),
                           "resumed_shards": len(shards) - len(missing)},  # fmt: skip
            }
            write_json_atomic(out.record, info)
            for stale in out.shards():  # also shards of another --shard-size from an earlier attempt
                stale.unlink(missing_ok=True)
            log(f"wrote {archive.relative_to(run.path)} ({elapsed:.1f} s)")
        barrier(world)
        return archive
