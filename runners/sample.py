"""`admbench sample`: sample archives in the paper's format from a run directory (resumable, torchrun-ready).

Output: `<run>/samples/<tag>/samples_<N>x<H>x<W>x<C>.npz` with `arr_0` uint8 NHWC (quantised as the reference:
((x + 1) * 127.5).clamp(0, 255) truncated to uint8) and `arr_1` labels for class-conditional or guided samples,
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
import json
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
from benchmark.diffusion.rng import SampleRNG
from benchmark.diffusion.sampling import ddim_sample_loop, ddpm_sample_loop
from benchmark.distributed import World, barrier, init_from_env
from benchmark.errors import InputError
from benchmark.io.atomic import atomic_path, sha256_file, write_json_atomic
from benchmark.io.writable import check_writable_dir
from benchmark.io.npz_writer import write_image_archive
from benchmark.models.checkpoint import load_checkpoint_strict
from benchmark.models.classifier import NoisyClassifier
from benchmark.models.unet import UNet
from benchmark.progress import QuietReporter, Reporter
from runners import checkpointing as ckpt
from runners.config import ClassifierRunConfig, RunConfig, SampleConfig, run_config_from_dict
from runners.rundir import CONFIG_NAME, RunLog, config_hash
from runners.runlock import exclusive, sample_lock_path
from runners.trainloop import autocast, resolve_device

DEFAULT_SHARD_SIZE = 1000
SAMPLE_JSON = "sample.json"
LABEL_RULE = "label of sample i = i % num_classes"


def quantize(x: torch.Tensor) -> np.ndarray:
    """float NCHW in [-1, 1] -> uint8 NHWC, exactly as the reference: ((x + 1) * 127.5).clamp(0, 255).to(uint8)."""
    return ((x + 1) * 127.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()


def balanced_labels(indices: range, num_classes: int) -> np.ndarray:
    """Label of sample i: i % num_classes."""
    return np.arange(indices.start, indices.stop, dtype=np.int64) % num_classes


def read_run_record(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise InputError(f"not a run directory (no {CONFIG_NAME})", run_dir)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"unreadable run config ({err})", path) from None


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


def _available_steps(run_dir: Path, use_ema: bool, rate: float | None) -> list[int]:
    states = set(ckpt.list_states(run_dir))
    if use_ema and rate is not None:
        states |= set(ckpt.list_ema(run_dir).get(rate, []))
    return sorted(states)


def resolve_sample_config(run_dir: str | Path, config: SampleConfig) -> SampleConfig:
    """Fill in the run's defaults: the milestone (latest checkpoint when None) and the EMA rate (the first)."""
    run_dir = Path(run_dir)
    record = read_run_record(run_dir)
    kind = record.get("kind")
    if kind == "gd-checkpoint":
        return dataclasses.replace(config, milestone=None, use_ema=False, ema_rate=None)
    if kind != "diffusion":
        raise InputError(f"cannot sample from a run of kind {kind!r} (a diffusion run or a gd checkpoint is needed)", run_dir)
    run = run_config_from_dict(record, run_dir / CONFIG_NAME)
    assert isinstance(run, RunConfig)
    rate = None
    if config.use_ema:
        if not run.train.ema_rates:
            raise InputError("this run keeps no EMA weights; sample with use_ema false (--no-ema)", run_dir)
        rate = run.train.ema_rates[0] if config.ema_rate is None else config.ema_rate
        if rate not in run.train.ema_rates:
            raise InputError(f"EMA rate {rate} is not one of the run's rates {list(run.train.ema_rates)}", run_dir)
    steps = _available_steps(run_dir, config.use_ema, rate)
    if not steps:
        raise InputError("the run has no checkpoint yet; train it first", run_dir)
    step = steps[-1] if config.milestone is None else config.milestone
    if step not in steps:
        raise InputError(f"no checkpoint at step {step}; available steps: {steps}", run_dir)
    return dataclasses.replace(config, milestone=step, ema_rate=rate)


def record_diffusion(record: dict[str, Any], path: Path) -> DiffusionConfig:
    """The diffusion process of a run record (a trained run's config, or a released checkpoint's flags)."""
    if record.get("kind") == "gd-checkpoint":
        from runners.gd_checkpoint import diffusion_config_from_flags

        return diffusion_config_from_flags(record["flags"])
    run = run_config_from_dict(record, path)
    if not isinstance(run, RunConfig):
        raise InputError(f"a run of kind {record.get('kind')!r} has no diffusion model to sample", path)
    return run.diffusion


def check_respacing(diffusion: DiffusionConfig, respacing: str, source: Path, origin: str = "respacing") -> None:
    """InputError naming `source` (the run's config) and `origin` (the option or file the value came from) when
    `respacing` cannot be applied to the `diffusion.steps`-step process."""
    try:
        dataclasses.replace(diffusion, timestep_respacing=respacing)
    except InputError as err:
        raise InputError(f"{origin} {respacing!r} does not fit the model's {diffusion.steps}-step diffusion: {err}",
                         source) from None  # fmt: skip


def load_run_model(run_dir: Path, config: SampleConfig, device: torch.device, log: Any) -> LoadedModel:
    """The network of a resolved SampleConfig: EMA weights (safetensors, else the state checkpoint) or raw weights."""
    record = read_run_record(run_dir)
    if record.get("kind") == "gd-checkpoint":
        from runners.gd_checkpoint import load_gd_unet

        model, diffusion = load_gd_unet(record, str(device))
        cfg = model.config
        weights = {"file": record["checkpoint"]["path"], "sha256": record["checkpoint"]["sha256"]}
        return LoadedModel(model, diffusion, cfg.num_classes, cfg.image_size, cfg.in_channels, None, weights)
    run = run_config_from_dict(record, run_dir / CONFIG_NAME)
    assert isinstance(run, RunConfig) and config.milestone is not None
    step = config.milestone
    model = UNet(run.unet)
    ema_file = ckpt.ema_path(run_dir, config.ema_rate, step) if config.ema_rate is not None else None
    if ema_file is not None and ema_file.is_file():
        state, meta = ckpt.read_ema(ema_file)
        source = ema_file
    else:
        source = ckpt.state_path(run_dir, step)
        full = ckpt.read_state(source)
        if config.ema_rate is not None:
            label = ckpt.rate_label(config.ema_rate)
            if label not in full["ema"]:
                raise InputError(f"checkpoint holds no EMA at rate {label}", source)
            state = full["ema"][label]
            log(f"EMA weights file missing; using the EMA stored in {source.name}")
        else:
            state = full["model"]
    load_checkpoint_strict(model, state, source)
    weights = {"file": str(source), "sha256": sha256_file(source), "ema_rate": config.ema_rate}
    return LoadedModel(model, run.diffusion, run.unet.num_classes, run.unet.image_size, run.unet.in_channels, step, weights)


def load_classifier(classifier_run: str | Path, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """The noisy classifier of a classifier run directory (latest checkpoint's weights) or a gd-classifier record."""
    run_dir = Path(classifier_run)
    record = read_run_record(run_dir)
    if record.get("kind") == "gd-classifier":
        from runners.gd_checkpoint import load_gd_classifier

        model = load_gd_classifier(record, str(device))
        return model, {"run": str(run_dir), "file": record["checkpoint"]["path"], "sha256": record["checkpoint"]["sha256"]}
    if record.get("kind") != "classifier":
        raise InputError(f"classifier_run is a run of kind {record.get('kind')!r}, not a classifier", run_dir)
    run = run_config_from_dict(record, run_dir / CONFIG_NAME)
    assert isinstance(run, ClassifierRunConfig)
    state = ckpt.load_latest_state(run_dir, lambda m: None)
    if state is None:
        raise InputError("the classifier run has no readable checkpoint; train it first", run_dir)
    source = ckpt.state_path(run_dir, int(state["step"]))
    model = NoisyClassifier(run.classifier)
    load_checkpoint_strict(model, state["model"], source)
    info = {"run": str(run_dir), "hash": config_hash(run), "file": str(source), "sha256": sha256_file(source),
            "step": int(state["step"])}  # fmt: skip
    return model, info


# ----------------------------------------------------------------------------------------------------------------
# Shards


def shard_ranges(num_samples: int, shard_size: int) -> list[range]:
    return [range(s, min(num_samples, s + shard_size)) for s in range(0, num_samples, shard_size)]


def shard_path(out_dir: Path, r: range) -> Path:
    return out_dir / f"shard-{r.start:07d}-{r.stop:07d}.npz"


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


def _checked_shard_images(out_dir: Path, r: range, shape: tuple[int, int, int], labelled: bool) -> np.ndarray:
    got = _read_shard(shard_path(out_dir, r), r, shape, labelled)
    if got is None:
        raise InputError(f"shard {shard_path(out_dir, r).name} is missing or damaged after sampling; rerun", out_dir)
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


def archive_name(n: int, h: int, w: int, c: int) -> str:
    return f"samples_{n}x{h}x{w}x{c}.npz"


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
    if config.sampler == "ddim":
        x0 = ddim_sample_loop(diffusion, model_fn, x_T, rng.randn_like, eta=config.eta,
                              clip_denoised=config.clip_denoised, cond_fn=cond_fn, model_kwargs=kwargs)  # fmt: skip
    else:
        x0 = ddpm_sample_loop(diffusion, model_fn, x_T, rng.randn_like, clip_denoised=config.clip_denoised,
                              cond_fn=cond_fn, model_kwargs=kwargs)  # fmt: skip
    return x0


def _finished_archive(out_dir: Path, resolved: SampleConfig) -> Path | None:
    """The archive of an earlier call with the same settings (any batch size), when its record says it is done."""
    try:
        info = json.loads((out_dir / SAMPLE_JSON).read_text(encoding="utf-8"))
        archive = out_dir / info["archive"]
        same = info["sample_config"] | {"batch_size": 0} == resolved.to_dict() | {"batch_size": 0}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    return archive if same and archive.is_file() else None


def sample(
    run_dir: str | Path,
    config: SampleConfig,
    device: str = "cpu",
    reporter: Reporter | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> Path:
    """Sample (or resume sampling) from a run directory; returns the final archive's path.

    Under torchrun every process calls this; shards are dealt round-robin and rank 0 merges them.
    """
    run_dir = Path(run_dir)
    reporter = reporter or QuietReporter()
    world: World = init_from_env(device)
    dev = resolve_device(device, world)
    resolved = resolve_sample_config(run_dir, config)
    record = read_run_record(run_dir)
    check_respacing(record_diffusion(record, run_dir / CONFIG_NAME), resolved.respacing, run_dir / CONFIG_NAME)
    tag = resolved.tag()
    out_dir = run_dir / "samples" / tag
    info_path = out_dir / SAMPLE_JSON
    finished = _finished_archive(out_dir, resolved)
    if finished is not None:
        return finished
    log = RunLog(run_dir, reporter) if world.is_main else (lambda message: None)
    started = time.perf_counter()

    loaded = load_run_model(run_dir, resolved, dev, log)
    loaded.model.to(dev).eval()
    diffusion = GaussianDiffusion.from_config(dataclasses.replace(loaded.diffusion, timestep_respacing=resolved.respacing))
    cond_fn = None
    classifier_info = None
    num_classes = loaded.num_classes
    if resolved.guidance_scale != 0:
        assert resolved.classifier_run is not None
        classifier, classifier_info = load_classifier(resolved.classifier_run, dev)
        classifier.to(dev).eval()
        ccfg = classifier.config
        if ccfg.image_size != loaded.image_size or ccfg.in_channels != loaded.channels:
            raise InputError(f"the classifier sees {ccfg.image_size}px x {ccfg.in_channels} channels, the model makes "
                             f"{loaded.image_size}px x {loaded.channels}", resolved.classifier_run)  # fmt: skip
        if num_classes is not None and ccfg.num_classes != num_classes:
            raise InputError(f"classifier has {ccfg.num_classes} classes, the model {num_classes}", resolved.classifier_run)
        num_classes = ccfg.num_classes
        cond_fn = classifier_cond_fn(classifier, resolved.guidance_scale)
    shape = (loaded.image_size, loaded.image_size, loaded.channels)
    labelled = num_classes is not None
    with contextlib.ExitStack() as stack:
        if world.is_main:  # checked and locked by rank 0, which alone writes the record and merges
            check_writable_dir(out_dir, "sample directory")
            stack.enter_context(exclusive(sample_lock_path(run_dir, tag), run_dir, f"admbench sample {tag}"))
        shards = shard_ranges(resolved.num_samples, shard_size)
        missing = [r for r in shards if _read_shard(shard_path(out_dir, r), r, shape, labelled) is None]
        mine = missing[world.rank :: world.size]
        if world.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
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
                _write_npz(shard_path(out_dir, r), np.concatenate(parts), np.concatenate(label_parts) if labelled else None)
        barrier(world)

        archive = out_dir / archive_name(resolved.num_samples, *shape)
        if world.is_main:
            # Streamed merge: one shard in memory at a time (50k x 256 x 256 x 3 would otherwise need ~20 GB).
            labels = np.concatenate([_shard_labels(shard_path(out_dir, r)) for r in shards]) if labelled else None
            images = (_checked_shard_images(out_dir, r, shape, labelled) for r in shards)
            write_image_archive(archive, (resolved.num_samples, *shape), images, labels)
            elapsed = time.perf_counter() - started
            info = {
                "tag": tag,
                "archive": archive.name,
                "sample_config": resolved.to_dict(),
                "milestone": resolved.milestone,
                "run": {"dir": str(run_dir), "hash": run_dir.name.rsplit("-", 1)[-1], "kind": record.get("kind")},
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
            write_json_atomic(info_path, info)
            for stale in out_dir.glob("shard-*.npz"):  # also shards of another --shard-size from an earlier attempt
                stale.unlink(missing_ok=True)
            log(f"wrote {archive.relative_to(run_dir)} ({elapsed:.1f} s)")
        barrier(world)
        return archive
