"""Run configurations and run records, as frozen dataclasses: where every run setting is validated.

Training (diffusion model or noisy classifier), sampling, and the record of a released guided-diffusion
checkpoint used as a run. Every config has one set of defaults, `to_dict` (JSON-ready) and `from_dict` refusing
unknown keys with an InputError naming the key. A run record's canonical JSON is hashed into its run directory's
name (`runners.rundir`), so two runs share a directory only when every resolved setting is equal.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from benchmark.config import ConfigBase
from benchmark.diffusion.config import DiffusionConfig
from benchmark.diffusion.respacing import Respacing
from benchmark.diffusion.sampling import Sampler
from benchmark.errors import InputError
from benchmark.io.json_input import read_json
from benchmark.models.config import ClassifierConfig, Precision, UNetConfig


class RunKind(enum.Enum):
    """What a run directory holds (the "kind" of its config.json)."""

    DIFFUSION = "diffusion"  # a diffusion model trained here
    CLASSIFIER = "classifier"  # a noisy classifier trained here
    GD_CHECKPOINT = "gd-checkpoint"  # a released guided-diffusion diffusion model
    GD_CLASSIFIER = "gd-classifier"  # a released guided-diffusion noisy classifier


def _check_keys(owner: str, data: Any, known: set[str], path: str | Path | None) -> None:
    if not isinstance(data, dict):
        raise InputError(f"{owner} must be a JSON object, got {type(data).__name__}", path)
    for key in data:
        if key not in known:
            raise InputError(f"unknown {owner} key {key!r}; known keys: {', '.join(sorted(known))}", path)


# ----------------------------------------------------------------------------------------------------------------


class TimestepSampling(enum.Enum):
    """How training draws timesteps (iDDPM section 3.3)."""

    UNIFORM = "uniform"
    LOSS_SECOND_MOMENT = "loss-second-moment"  # importance sampling by the history of E[L_t^2]


class OptimizerImpl(enum.Enum):
    """Which torch implementation runs AdamW: the same algorithm with different rounding, so it is part of a run."""

    FOR_LOOP = "for-loop"  # one parameter at a time (torch's CPU default; what guided-diffusion's training gets)
    FOREACH = "foreach"  # multi-tensor kernels
    FUSED = "fused"  # one fused kernel per step


@dataclass(frozen=True)
class TrainConfig(ConfigBase):
    """Optimisation settings shared by the diffusion model and the noisy classifier (paper Appendix C / Table 11).

    `batch_size` is the global batch (split evenly over processes); `microbatch` splits each process's share
    further (gradients accumulated, identical result up to float rounding). Training runs until the last
    milestone; every milestone's checkpoint is kept. The speed settings (`precision`, `optimizer`,
    `channels_last`) change the rounding, so they are part of the run's identity and resumption is bitwise.
    """

    config_name: ClassVar[str] = "train"

    dataset: str = "fashion-mnist"  # benchmark.data.registry.open_dataset spec
    resolution: int = 64
    channels: int = 3
    class_cond: bool = False
    random_flip: bool = False  # horizontal flips drawn per sample from (seed, step)
    batch_size: int = 256
    microbatch: int | None = None
    lr: float = 1e-4  # AdamW learning rate
    lr_warmup_steps: int = 0  # linear warm-up from lr / lr_warmup_steps to lr over the first steps
    lr_anneal_steps: int | None = None  # linear decay to 0 at this step (guided-diffusion lr_anneal_steps)
    weight_decay: float = 0.0
    ema_rates: tuple[float, ...] = (0.9999,)
    ema_warmup: bool = False  # rate at step t: min(rate, (1 + t) / (10 + t)) instead of rate (ADM: no warm-up)
    grad_clip: float | None = None  # max global L2 norm of the gradient
    precision: Precision = Precision.FP32  # autocast dtype: bf16, or fp16 with dynamic loss scaling
    optimizer: OptimizerImpl = OptimizerImpl.FOREACH
    channels_last: bool = False  # NHWC activations and weights (faster convolutions on GPUs, slower on CPUs)
    timestep_sampler: TimestepSampling = TimestepSampling.UNIFORM
    milestones: tuple[int, ...] = (700_000, 1_200_000)
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 10_000

    def __post_init__(self) -> None:
        if not self.dataset:
            raise InputError("train.dataset must name a dataset")
        if self.resolution < 1 or self.channels not in (1, 3):
            raise InputError(f"train.resolution must be positive and channels 1 or 3, got {self.resolution}, {self.channels}")
        if self.batch_size < 1:
            raise InputError(f"train.batch_size must be >= 1, got {self.batch_size}")
        if self.microbatch is not None and self.microbatch < 1:
            raise InputError(f"train.microbatch must be >= 1 or null, got {self.microbatch}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"train.lr must be a positive number, got {self.lr}")
        if self.lr_warmup_steps < 0:
            raise InputError(f"train.lr_warmup_steps must be >= 0, got {self.lr_warmup_steps}")
        if self.lr_anneal_steps is not None and self.lr_anneal_steps < 1:
            raise InputError(f"train.lr_anneal_steps must be >= 1 or null, got {self.lr_anneal_steps}")
        if self.weight_decay < 0:
            raise InputError(f"train.weight_decay must be >= 0, got {self.weight_decay}")
        for rate in self.ema_rates:
            if not 0.0 < rate < 1.0:
                raise InputError(f"train.ema_rates must lie in (0, 1), got {rate}")
        if len(set(self.ema_rates)) != len(self.ema_rates):
            raise InputError(f"train.ema_rates has duplicates: {list(self.ema_rates)}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise InputError(f"train.grad_clip must be > 0 or null, got {self.grad_clip}")
        self.check_typed_fields()
        if not self.milestones or any(m < 1 for m in self.milestones) or list(self.milestones) != sorted(set(self.milestones)):
            raise InputError(f"train.milestones must be increasing positive steps, got {list(self.milestones)}")
        if self.seed < 0:
            raise InputError(f"train.seed must be >= 0, got {self.seed}")
        if self.log_every < 1 or self.checkpoint_every < 1:
            raise InputError("train.log_every and train.checkpoint_every must be >= 1")

    @property
    def total_steps(self) -> int:
        """Training stops after this many optimiser steps (the last milestone)."""
        return self.milestones[-1]


# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfig(ConfigBase):
    """A diffusion-model training run: network, diffusion process and optimisation settings."""

    unet: UNetConfig = UNetConfig()
    diffusion: DiffusionConfig = DiffusionConfig()
    train: TrainConfig = TrainConfig()

    config_name: ClassVar[str] = "run config"
    kind: ClassVar[RunKind] = RunKind.DIFFUSION

    def __post_init__(self) -> None:
        u, d, t = self.unet, self.diffusion, self.train
        if u.image_size != t.resolution:
            raise InputError(f"unet.image_size {u.image_size} != train.resolution {t.resolution}")
        if u.in_channels != t.channels or u.out_channels != t.channels:
            raise InputError(f"unet.in_channels/out_channels ({u.in_channels}/{u.out_channels}) != train.channels {t.channels}")
        if u.learn_sigma != d.variance_type.is_learned:
            raise InputError(f"unet.learn_sigma={u.learn_sigma} disagrees with diffusion.variance_type={d.variance_type.value}")
        if t.class_cond != (u.num_classes is not None):
            raise InputError(f"train.class_cond={t.class_cond} but unet.num_classes={u.num_classes}")
        if u.dtype is not Precision.FP32:
            raise InputError("unet.dtype must be fp32 for training (set train.precision for bf16/fp16 autocast)")
        if d.timestep_respacing:
            raise InputError("diffusion.timestep_respacing must be empty for training (respacing is a sampling option)")

@dataclass(frozen=True)
class ClassifierRunConfig(ConfigBase):
    """A noisy-classifier training run: the classifier sees x_t ~ q(x_t | x_0) at uniformly drawn t (paper §4)."""

    classifier: ClassifierConfig = ClassifierConfig()
    diffusion: DiffusionConfig = DiffusionConfig()  # noise schedule used to make x_t
    train: TrainConfig = TrainConfig(class_cond=True, ema_rates=())  # the defaults of a missing "train" key

    config_name: ClassVar[str] = "classifier run config"
    kind: ClassVar[RunKind] = RunKind.CLASSIFIER

    def __post_init__(self) -> None:
        c, t = self.classifier, self.train
        if c.image_size != t.resolution or c.in_channels != t.channels:
            raise InputError(f"classifier image_size/in_channels ({c.image_size}/{c.in_channels}) != "
                             f"train resolution/channels ({t.resolution}/{t.channels})")  # fmt: skip
        if not t.class_cond:
            raise InputError("train.class_cond must be true for a classifier (it is trained on labels)")
        if c.dtype is not Precision.FP32:
            raise InputError("classifier.dtype must be fp32 for training (set train.precision for bf16/fp16 autocast)")
        if self.diffusion.timestep_respacing:
            raise InputError("diffusion.timestep_respacing must be empty for classifier training")

AnyRunConfig = RunConfig | ClassifierRunConfig


def run_config_from_dict(data: dict[str, Any], path: str | Path | None = None) -> AnyRunConfig:
    """RunConfig or ClassifierRunConfig according to data["kind"] (default "diffusion")."""
    if not isinstance(data, dict):
        raise InputError("a run config must be a JSON object", path)
    kind = data.get("kind", RunKind.DIFFUSION.value)
    if kind == RunKind.DIFFUSION.value:
        return RunConfig.from_dict(data, path)
    if kind == RunKind.CLASSIFIER.value:
        return ClassifierRunConfig.from_dict(data, path)
    raise InputError(f"unknown config kind {kind!r}; expected 'diffusion' or 'classifier'", path)


def load_run_config(path: str | Path) -> AnyRunConfig:
    """Read a run config JSON file (either kind)."""
    path = Path(path)
    return run_config_from_dict(read_json(path, "config"), path)


def released_identity(kind: RunKind, flags: Mapping[str, Any], *, sha256: str | None, url: str | None) -> dict[str, Any]:
    """What names a released checkpoint's run directory: the kind, the flags and the weights' identity.

    A published checkpoint (a preset's released model) is identified by its URL, so a reproduction plan knows the
    directory before the file is fetched; its sha256 is recorded in the run's config.json on first use and every
    load is checked against it. A file given by hand is identified by its sha256, wherever it lies.
    """
    if url is None and not sha256:
        raise InputError("a released checkpoint is identified by its URL or its sha256; neither was given")
    source = {"url": url} if url is not None else {"sha256": sha256}
    return {"kind": kind.value, **source, "flags": dict(flags)}


@dataclass(frozen=True)
class ReleasedCheckpoint:
    """A released guided-diffusion checkpoint used as a run (nothing is trained): its file and reference flags.

    `flags` are the reference scripts' flags with every default filled in (parsed and checked against the file by
    runners.gd_checkpoint). The run directory is named by `identity()` (see `released_identity`), never by where
    the file lies. `sha256` is the file's digest when the run directory was made; loading checks it.
    """

    kind: RunKind  # GD_CHECKPOINT or GD_CLASSIFIER
    name: str  # the file's name
    path: str  # the file, resolved
    sha256: str
    flags: Mapping[str, Any]
    url: str | None = None  # where a published checkpoint is downloaded from (None: a file given by hand)

    def __post_init__(self) -> None:
        if self.kind not in (RunKind.GD_CHECKPOINT, RunKind.GD_CLASSIFIER):
            raise InputError(f"a released checkpoint is of kind gd-checkpoint or gd-classifier, got {self.kind!r}")
        for name in ("name", "path", "sha256"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise InputError(f"checkpoint.{name} must be a non-empty string, got {getattr(self, name)!r}")
        if self.url is not None and (not isinstance(self.url, str) or not self.url):
            raise InputError(f"checkpoint.url must be a non-empty string, got {self.url!r}")
        if not isinstance(self.flags, Mapping):
            raise InputError(f"flags must be a JSON object, got {type(self.flags).__name__}")

    @property
    def file(self) -> Path:
        return Path(self.path)

    def identity(self) -> dict[str, Any]:
        """What names the run directory: the same weights (or published file) and flags give the same directory."""
        return released_identity(self.kind, self.flags, sha256=self.sha256, url=self.url)

    def to_dict(self) -> dict[str, Any]:
        """The run's config.json."""
        checkpoint = {"name": self.name, "path": self.path, "sha256": self.sha256}
        if self.url is not None:
            checkpoint["url"] = self.url
        return {"kind": self.kind.value, "checkpoint": checkpoint, "flags": dict(self.flags)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str | Path | None = None) -> ReleasedCheckpoint:
        _check_keys("released checkpoint record", data, {"kind", "checkpoint", "flags"}, path)
        checkpoint = data.get("checkpoint")
        _check_keys("checkpoint", checkpoint, {"name", "path", "sha256", "url"}, path)
        assert isinstance(checkpoint, dict)
        try:
            kind = RunKind(data.get("kind"))
            return cls(kind, checkpoint.get("name"), checkpoint.get("path"), checkpoint.get("sha256"),
                       data.get("flags"), checkpoint.get("url"))  # fmt: skip
        except ValueError:
            raise InputError(f"unknown run kind {data.get('kind')!r}", path) from None
        except InputError as err:
            raise InputError(str(err), path) from None


RunRecord = RunConfig | ClassifierRunConfig | ReleasedCheckpoint


def run_record_from_dict(data: dict[str, Any], path: str | Path | None = None) -> RunRecord:
    """What a run directory's config.json describes: a trained run's config, or a released checkpoint."""
    if isinstance(data, dict) and data.get("kind") in (RunKind.GD_CHECKPOINT.value, RunKind.GD_CLASSIFIER.value):
        return ReleasedCheckpoint.from_dict(data, path)
    return run_config_from_dict(data, path)


# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleConfig(ConfigBase):
    """How to draw samples from a trained run (paper §4: DDPM 250 steps or DDIM 25, optional classifier guidance).

    Sample i uses its own random stream (benchmark.diffusion.rng, seeded by (seed, i)); labels of
    class-conditional or guided samples are balanced: label(i) = i % num_classes. `batch_size` does not change
    the samples.
    """

    milestone: int | None = None  # training step of the weights; None = latest checkpoint
    num_samples: int = 50_000
    batch_size: int = 64
    sampler: Sampler = Sampler.DDPM
    respacing: Respacing = Respacing.parse("250")  # written "" (all), "250", "ddim25", "90,60,60,20,20"
    eta: float = 0.0  # DDIM eta
    guidance_scale: float = 0.0  # classifier scale s (0 = no guidance)
    classifier_run: str | None = None  # classifier run directory (required when guidance_scale != 0)
    seed: int = 0
    use_ema: bool = True
    ema_rate: float | None = None  # None = the run's first EMA rate
    clip_denoised: bool = True
    precision: Precision = Precision.FP32  # autocast dtype of the network (and classifier) forward passes

    config_name: ClassVar[str] = "sample"

    def __post_init__(self) -> None:
        if self.milestone is not None and self.milestone < 1:
            raise InputError(f"sample milestone must be a positive step or null, got {self.milestone}")
        if self.num_samples < 1 or self.batch_size < 1:
            raise InputError("sample num_samples and batch_size must be >= 1")
        self.check_typed_fields()
        if not (0.0 <= self.eta and math.isfinite(self.eta)):
            raise InputError(f"eta must be >= 0, got {self.eta}")
        if self.eta != 0 and self.sampler is not Sampler.DDIM:
            raise InputError("eta applies to the ddim sampler only")
        if not math.isfinite(self.guidance_scale):
            raise InputError(f"guidance_scale must be finite, got {self.guidance_scale}")
        if self.guidance_scale != 0 and not self.classifier_run:
            raise InputError("guidance_scale != 0 needs classifier_run (a classifier run directory)")
        if self.seed < 0:
            raise InputError(f"seed must be >= 0, got {self.seed}")
        if self.ema_rate is not None and not self.use_ema:
            raise InputError("ema_rate is set but use_ema is false")
