"""Reproduction presets: how the paper's ablation and guidance settings map onto runnable configurations.

A `Preset` maps each of the paper's settings (benchmark.paper) onto its own network instead of copying
absolute numbers (`NetworkMapping`), and nests the typed configs it starts every run from: a `TrainConfig`
template for every ablation row, a `SampleConfig` template for Tables 1-3, and the guidance table's own
templates. The plan (runners.plan) fills in what varies per row (dataset, architecture, class conditioning,
milestones, seed). `docs/PRESETS.md` is the prose version of `PRESETS` (`presets_markdown`).

  - channel widths: the paper's 160 / 128 base channels -> `widths` (GroupNorm's 32 groups bound the minimum),
  - depth (residual blocks per level): 2 / 4 -> `depths`,
  - attention resolutions by POSITION in the network: the paper's 8 px is the lowest level of its 128 px UNet,
    16 px the next one up, 32 px the one above; the same positions are taken in our network,
  - channels per head (Table 2): 32 / 64 / 128 -> `head_channels` (scaled with the narrow width, so each level
    keeps the paper's number of heads),
  - iterations: the paper's 700K / 1200K (Table 1), 700K (Tables 2-3) and 2M (guidance) -> `milestones`,
    `table2_steps`, `table3_steps`, `guidance.steps`.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from typing import Any

from benchmark.diffusion.config import DiffusionConfig
from benchmark.diffusion.respacing import Respacing
from benchmark.diffusion.sampling import Sampler
from benchmark.errors import InputError
from benchmark.models.config import ClassifierConfig, NormType, Precision, UNetConfig
from benchmark.paper import LOWEST_RES, ArchSetting
from runners.config import ClassifierRunConfig, OptimizerImpl, RunConfig, SampleConfig, TrainConfig


@dataclass(frozen=True)
class ReleasedModel:
    """A released guided-diffusion checkpoint (benchmark/models/released_configs.json) used instead of training."""

    name: str  # key in released_configs.json, e.g. "256x256_diffusion"
    filename: str  # file name inside the checkpoint directory


@dataclass(frozen=True)
class ReleasedGuidance:
    """The paper's released guidance-table models and reference batch (the `paper` preset)."""

    cond: ReleasedModel
    uncond: ReleasedModel
    classifier: ReleasedModel
    reference_url: str


@dataclass(frozen=True)
class NetworkMapping:
    """The paper's architecture values -> this preset's (pairs are (paper, ours))."""

    channel_mult: tuple[float, ...]
    widths: tuple[tuple[int, int], ...]  # ((160, ours), (128, ours))
    depths: tuple[tuple[int, int], ...]  # ((2, ours), (4, ours))
    head_channels: tuple[tuple[int, int], ...]  # ((32, ours), (64, ours), (128, ours))

    def width(self, paper: int) -> int:
        return _lookup(self.widths, paper, "channels")

    def depth(self, paper: int) -> int:
        return _lookup(self.depths, paper, "depth")

    def head_channel(self, paper: int) -> int:
        return _lookup(self.head_channels, paper, "channels per head")

    def lowest(self, resolution: int) -> int:
        return resolution // 2 ** (len(self.channel_mult) - 1)

    def attention(self, resolution: int, paper_resolutions: tuple[int, ...]) -> tuple[int, ...]:
        """The paper's attention resolutions mapped by their position above the lowest level of the network."""
        lowest = self.lowest(resolution)
        return tuple(lowest * 2 ** int(round(math.log2(res / LOWEST_RES))) for res in paper_resolutions)


def _lookup(pairs: tuple[tuple[int, int], ...], paper: int, what: str) -> int:
    for key, value in pairs:
        if key == paper:
            return value
    raise InputError(f"the preset has no mapping for the paper's {what} {paper}")


@dataclass(frozen=True)
class Evaluation:
    """How every table cell is evaluated."""

    extractor: str
    reference: str | None  # reference batch file (relative to the repository); None: built from the training set
    reference_images: int  # images kept in a built reference batch for precision / recall
    bootstrap: int  # bootstrap resamples for every metric's interval (0 = none)


@dataclass(frozen=True)
class ClassifierPreset:
    """The noisy classifier for guidance (trained here): the paper's Table 12 design, preset-sized."""

    channels: int
    depth: int
    train: TrainConfig  # template: batch, lr (annealed to 0 at the last step), weight decay, steps


class GuidanceSource(enum.Enum):
    TRAIN = "train"  # both diffusion models and the classifier are trained here
    RELEASED = "released"  # the paper's released checkpoints


@dataclass(frozen=True)
class GuidancePreset:
    """The classifier-guidance table (paper Table 4)."""

    scales: tuple[float, ...]
    source: GuidanceSource
    steps: int  # training steps of the diffusion models when trained here
    sample: SampleConfig  # template (milestone, seed, scale and classifier are set per row)
    classifier: ClassifierPreset | None = None
    released: ReleasedGuidance | None = None
    uncond_steps: int | None = None  # the unconditional model's steps when shorter than `steps` (None: `steps`)

    def model_steps(self, conditional: bool) -> int:
        """Training steps of the conditional or the unconditional model."""
        return self.steps if conditional or self.uncond_steps is None else self.uncond_steps


@dataclass(frozen=True)
class Preset:
    """Every setting of one reproduction; the built-in presets are in `PRESETS`."""

    name: str
    summary: str
    dataset: str | None  # open_dataset spec; None: the user's --data folder is required
    resolution: int
    channels: int
    class_cond: bool  # ablation models are class-conditional (the paper does not say; AdaGN mentions a class embedding)
    network: NetworkMapping
    diffusion: DiffusionConfig
    train: TrainConfig  # template of every diffusion run (batch, lr, EMA, precision, ...)
    milestones: tuple[int, int]  # Table 1: the paper's 700K and 1200K
    table2_steps: int  # the paper's 700K
    table3_steps: int  # the paper's 700K
    sample: SampleConfig  # template of Tables 1-3 (num_samples, sampler, respacing, precision, weights)
    evaluation: Evaluation
    guidance: GuidancePreset
    evidence_steps: int  # rows trained for fewer steps are reported as too short to mean anything
    num_classes_hint: int = 1000  # classes assumed when planning without the dataset at hand (dry runs only)

    def __post_init__(self) -> None:
        g = self.guidance
        if g.source is GuidanceSource.RELEASED and g.released is None:
            raise InputError(f"preset {self.name}: released guidance needs the released models and reference")
        if g.source is GuidanceSource.TRAIN and g.classifier is None:
            raise InputError(f"preset {self.name}: guidance trained here needs a classifier preset")
        if not 0 < self.milestones[0] < self.milestones[1]:
            raise InputError(f"preset {self.name}: milestones must be increasing, got {self.milestones}")


# ----------------------------------------------------------------------------------------------------------------
# Row settings -> configs.


def unet_config(preset: Preset, arch: ArchSetting, num_classes: int | None) -> UNetConfig:
    """The UNet of one row, mapped onto the preset's network (`num_classes` None: unconditional)."""
    net = preset.network
    return UNetConfig(
        image_size=preset.resolution,
        in_channels=preset.channels,
        out_channels=preset.channels,
        learn_sigma=True,
        model_channels=net.width(arch.channels),
        channel_mult=net.channel_mult,
        num_res_blocks=net.depth(arch.depth),
        attention_resolutions=net.attention(preset.resolution, arch.attention),
        num_heads=arch.heads,
        num_head_channels=None if arch.head_channels is None else net.head_channel(arch.head_channels),
        resblock_updown=arch.updown,
        rescale_skip=arch.rescale,
        norm=NormType.ADAGN if arch.adagn else NormType.ADDITION_GROUPNORM,
        num_classes=num_classes,
    )


def run_config(preset: Preset, arch: ArchSetting, dataset: str, milestones: tuple[int, ...], seed: int,
               num_classes: int | None) -> RunConfig:  # fmt: skip
    """The training run of one row (class-conditional when `num_classes` is given)."""
    train = dataclasses.replace(preset.train, dataset=dataset, resolution=preset.resolution, channels=preset.channels,
                                class_cond=num_classes is not None, milestones=milestones, seed=seed)  # fmt: skip
    return RunConfig(unet=unet_config(preset, arch, num_classes), diffusion=preset.diffusion, train=train)


def classifier_run_config(preset: Preset, dataset: str, seed: int, num_classes: int) -> ClassifierRunConfig:
    """The noisy classifier: width and depth from the preset, attention at the three lowest levels."""
    clf = preset.guidance.classifier
    if clf is None:
        raise InputError(f"preset {preset.name} trains no classifier")
    net = preset.network
    levels = len(net.channel_mult)
    lowest = net.lowest(preset.resolution)
    config = ClassifierConfig(
        image_size=preset.resolution,
        in_channels=preset.channels,
        num_classes=num_classes,
        model_channels=clf.channels,
        channel_mult=net.channel_mult,
        num_res_blocks=clf.depth,
        attention_resolutions=tuple(lowest * 2**i for i in range(min(3, levels)))[::-1],
        num_heads=1,
        num_head_channels=min(net.head_channel(64), clf.channels),
    )
    steps = clf.train.milestones[-1]
    train = dataclasses.replace(clf.train, dataset=dataset, resolution=preset.resolution, channels=preset.channels,
                                class_cond=True, ema_rates=(), lr_anneal_steps=steps, seed=seed)  # fmt: skip
    return ClassifierRunConfig(classifier=config, diffusion=preset.diffusion, train=train)


def _weights(template: SampleConfig, train: TrainConfig) -> SampleConfig:
    """Pin the EMA rate that is sampled (the run's first) so the sample tag names it."""
    if template.use_ema and template.ema_rate is None and train.ema_rates:
        return dataclasses.replace(template, ema_rate=train.ema_rates[0])
    return template


def sample_config(preset: Preset, milestone: int, seed: int) -> SampleConfig:
    """Sampling of one Tables 1-3 row at one milestone."""
    return dataclasses.replace(_weights(preset.sample, preset.train), milestone=milestone, seed=seed)


def guidance_sample_config(preset: Preset, seed: int, scale: float, classifier_run: str | None,
                           conditional: bool) -> SampleConfig:  # fmt: skip
    """Sampling of one guidance row: trained models at their last step, released ones with their own weights."""
    g = preset.guidance
    if g.source is GuidanceSource.RELEASED:  # the released files are EMA weights already
        return dataclasses.replace(g.sample, milestone=None, use_ema=False, ema_rate=None, seed=seed,
                                   guidance_scale=scale, classifier_run=classifier_run)  # fmt: skip
    return dataclasses.replace(_weights(g.sample, preset.train), milestone=g.model_steps(conditional), seed=seed,
                               guidance_scale=scale, classifier_run=classifier_run)  # fmt: skip


def preset_to_dict(preset: Preset) -> dict[str, Any]:
    """JSON-ready preset (recorded in the reproduction manifest and the report)."""

    def plain(value: Any) -> Any:
        if isinstance(value, enum.Enum):
            return value.value
        if hasattr(value, "to_dict"):
            return value.to_dict()
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value

    return plain(preset)


def milestone_label(step: int) -> str:
    """700000 -> '700K', 240 -> '240'."""
    return f"{step // 1000}K" if step >= 1000 and step % 1000 == 0 else str(step)


# ----------------------------------------------------------------------------------------------------------------
# The built-in presets.

#: One width for both of the paper's (160 and 128): GroupNorm's 32 groups allow no 5:4 ratio below 160:128, and
#: 64-channel rows cost 4x the 32-channel ones on a CPU for no better FID per second (docs/PRESETS.md).
_FMNIST16 = NetworkMapping(
    channel_mult=(1, 2, 2),
    widths=((160, 32), (128, 32)),
    depths=((2, 1), (4, 2)),
    head_channels=((32, 8), (64, 16), (128, 32)),
)
#: Short CPU runs: lr 2e-3 after a 20-step warm-up and a warmed-up EMA (docs/PRESETS.md, "Training").
_CPU_TRAIN = TrainConfig(
    batch_size=64, lr=2e-3, lr_warmup_steps=20, ema_rates=(0.999,), ema_warmup=True, precision=Precision.BF16,
    optimizer=OptimizerImpl.FOREACH, channels_last=False, checkpoint_every=10_000, log_every=50,
)  # fmt: skip
_CPU_CLASSIFIER_TRAIN = TrainConfig(
    batch_size=64, lr=2e-3, lr_warmup_steps=20, weight_decay=0.05, ema_rates=(), precision=Precision.BF16,
    milestones=(400,), checkpoint_every=10_000, log_every=50,
)  # fmt: skip
#: Ancestral sampling with the learned variance on 50 respaced steps (docs/PRESETS.md, "Sampling").
_CPU_SAMPLE = SampleConfig(num_samples=500, batch_size=250, sampler=Sampler.DDPM, respacing=Respacing.parse("50"),
                           precision=Precision.BF16)  # fmt: skip
_FMNIST_REFERENCE = "reference_stats/fmnist-train-{res}x{res}x1-fmnist-cnn.npz"

SMOKE = Preset(
    name="smoke",
    summary="Fashion-MNIST 16x16 on 2 CPU cores in under 10 minutes: the conditional guidance model and the "
    "classifier train long enough to make garments; every other row trains 10 to 150 steps and only shows "
    "that its variant runs (the report marks those rows as too short).",
    dataset="fashion-mnist",
    resolution=16,
    channels=1,
    class_cond=True,
    network=_FMNIST16,
    diffusion=DiffusionConfig(steps=1000),
    train=_CPU_TRAIN,
    milestones=(10, 20),
    table2_steps=10,
    table3_steps=20,
    sample=dataclasses.replace(_CPU_SAMPLE, num_samples=100, batch_size=100, respacing=Respacing.parse("20")),
    evaluation=Evaluation("fmnist-cnn", _FMNIST_REFERENCE.format(res=16), 10_000, 100),
    guidance=GuidancePreset(
        scales=(1.0, 10.0),
        source=GuidanceSource.TRAIN,
        steps=450,
        uncond_steps=150,
        sample=dataclasses.replace(_CPU_SAMPLE, num_samples=300, batch_size=300, respacing=Respacing.parse("25")),
        classifier=ClassifierPreset(32, 1, dataclasses.replace(_CPU_CLASSIFIER_TRAIN, milestones=(300,))),
    ),
    evidence_steps=300,
)

#: The smoke preset's data, network and settings with every row trained long enough to learn.
CPU = dataclasses.replace(
    SMOKE,
    name="cpu",
    summary="Fashion-MNIST 16x16 on 2 CPU cores in about 75 minutes: every row trains long enough to learn, so "
    "the guidance effects and the conditional-vs-unconditional gap are measurable with 95% intervals.",
    milestones=(400, 800),
    table2_steps=400,
    table3_steps=1000,  # Table 3's AdaGN row samples the conditional guidance model's run at this step
    sample=_CPU_SAMPLE,
    evaluation=dataclasses.replace(SMOKE.evaluation, bootstrap=200),
    guidance=dataclasses.replace(
        SMOKE.guidance,
        # One scale: with this 16x16 classifier, precision rises from no guidance to scale 1 and is flat above it
        # (measured at 1, 2, 3, 5, 10 on a 3000-step model; docs/PRESETS.md), while recall keeps falling.
        scales=(1.0,),
        steps=3000,  # both models: the conditional-vs-unconditional comparison is at equal training
        uncond_steps=None,
        sample=dataclasses.replace(_CPU_SAMPLE, num_samples=1000),
        classifier=ClassifierPreset(32, 1, dataclasses.replace(_CPU_CLASSIFIER_TRAIN, milestones=(1000,))),
    ),
)

FMNIST = Preset(
    name="fmnist",
    summary="Fashion-MNIST 32x32 with the paper's widths, depths and heads, 1/30 of its iterations: ablation "
    "differences on one GPU (proxy extractor, not Inception).",
    dataset="fashion-mnist",
    resolution=32,
    channels=1,
    class_cond=True,
    network=NetworkMapping(
        channel_mult=(1, 2, 2, 2),
        widths=((160, 160), (128, 128)),
        depths=((2, 2), (4, 4)),
        head_channels=((32, 32), (64, 64), (128, 128)),
    ),
    diffusion=DiffusionConfig(steps=1000),
    train=TrainConfig(batch_size=128, lr=1e-4, ema_rates=(0.9999,), ema_warmup=True, precision=Precision.BF16,
                      optimizer=OptimizerImpl.FUSED, channels_last=True, checkpoint_every=5_000, log_every=100),  # fmt: skip
    milestones=(25_000, 40_000),
    table2_steps=25_000,
    table3_steps=25_000,
    sample=SampleConfig(num_samples=10_000, batch_size=500, sampler=Sampler.DDPM, respacing=Respacing.parse("100")),
    evaluation=Evaluation("fmnist-cnn", _FMNIST_REFERENCE.format(res=32), 10_000, 200),
    guidance=GuidancePreset(
        scales=(0.5, 1.0, 2.0, 5.0, 10.0),
        source=GuidanceSource.TRAIN,
        steps=25_000,
        sample=SampleConfig(num_samples=10_000, batch_size=500, sampler=Sampler.DDPM, respacing=Respacing.parse("100")),
        classifier=ClassifierPreset(64, 2, TrainConfig(batch_size=128, lr=3e-4, weight_decay=0.05, ema_rates=(),
                                                       precision=Precision.BF16, milestones=(20_000,),
                                                       checkpoint_every=5_000, log_every=100)),  # fmt: skip
    ),
    evidence_steps=0,
    num_classes_hint=10,
)

_RELEASED_BASE = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/"

PAPER = Preset(
    name="paper",
    summary="The paper's protocol on your ImageNet 128x128 folder (--data): batch 256, hybrid loss, learned "
    "variance, EMA 0.9999 (no warm-up), lr 1e-4, fp16 with loss scaling, 700K / 1200K iterations, 250 sampling "
    "steps, Inception features; the guidance table uses the released 256x256 checkpoints.",
    dataset=None,
    resolution=128,
    channels=3,
    class_cond=True,
    network=NetworkMapping(
        channel_mult=(1, 1, 2, 3, 4),
        widths=((160, 160), (128, 128)),
        depths=((2, 2), (4, 4)),
        head_channels=((32, 32), (64, 64), (128, 128)),
    ),
    diffusion=DiffusionConfig(steps=1000),
    train=TrainConfig(batch_size=256, lr=1e-4, ema_rates=(0.9999,), ema_warmup=False, precision=Precision.FP16,
                      optimizer=OptimizerImpl.FUSED, channels_last=True, checkpoint_every=10_000, log_every=100),  # fmt: skip
    milestones=(700_000, 1_200_000),
    table2_steps=700_000,
    table3_steps=700_000,
    sample=SampleConfig(num_samples=10_000, batch_size=256, sampler=Sampler.DDPM, respacing=Respacing.parse("250")),
    evaluation=Evaluation("inception-v3", None, 10_000, 100),
    guidance=GuidancePreset(
        scales=(1.0, 10.0),
        source=GuidanceSource.RELEASED,
        steps=2_000_000,
        sample=SampleConfig(num_samples=50_000, batch_size=256, sampler=Sampler.DDPM, respacing=Respacing.parse("250")),
        released=ReleasedGuidance(
            cond=ReleasedModel("256x256_diffusion", "256x256_diffusion.pt"),
            uncond=ReleasedModel("256x256_diffusion_uncond", "256x256_diffusion_uncond.pt"),
            classifier=ReleasedModel("256x256_classifier", "256x256_classifier.pt"),
            reference_url=_RELEASED_BASE + "ref_batches/imagenet/256/VIRTUAL_imagenet256_labeled.npz",
        ),
    ),
    evidence_steps=0,
)

PRESETS: dict[str, Preset] = {p.name: p for p in (SMOKE, CPU, FMNIST, PAPER)}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]


# ----------------------------------------------------------------------------------------------------------------
# Documentation (docs/PRESETS.md is checked against this table by the tests).


def _pairs(items: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(f"{a} -> {b}" for a, b in items)


def _ema_text(train: TrainConfig) -> str:
    rate = ", ".join(f"{r:g}" for r in train.ema_rates)
    return f"{rate} (warm-up)" if train.ema_warmup else rate


def _sampler_text(s: SampleConfig) -> str:
    bf16 = ", bf16" if s.precision is Precision.BF16 else ""
    return f"{s.num_samples} / {s.sampler.value.upper()} {s.respacing}{bf16}"


def _guidance_steps_text(g: GuidancePreset) -> str:
    if g.uncond_steps is None:
        return milestone_label(g.steps)
    return f"conditional {milestone_label(g.steps)}, unconditional {milestone_label(g.uncond_steps)}"


def presets_markdown() -> str:
    """The paper-to-preset mapping of every setting as one Markdown table (paper column first)."""
    p = tuple(PRESETS.values())
    rows: list[tuple[str, str, tuple[str, ...]]] = [
        ("Data", "ImageNet 128x128 (Tables 1-3), 256x256 (guidance)",
         tuple(x.dataset and f"Fashion-MNIST {x.resolution}x{x.resolution}x{x.channels}" or
               f"--data folder at {x.resolution}x{x.resolution}" for x in p)),
        ("channel_mult (levels)", "1,1,2,3,4 (128, 64, 32, 16, 8 px)",
         tuple(",".join(f"{m:g}" for m in x.network.channel_mult) + " (" + ", ".join(
             str(x.resolution // 2**i) for i in range(len(x.network.channel_mult))) + " px)" for x in p)),
        ("Channels (Table 1)", "160 / 128", tuple(_pairs(x.network.widths) for x in p)),
        ("Depth (res blocks per level)", "2 / 4", tuple(_pairs(x.network.depths) for x in p)),
        ("Attention resolutions", "16 (second-lowest level); 32,16,8 (lowest three)",
         tuple(f"{','.join(map(str, x.network.attention(x.resolution, (16,))))}; "
               f"{','.join(map(str, x.network.attention(x.resolution, (32, 16, 8))))}" for x in p)),
        ("Channels per head (Table 2)", "32 / 64 / 128", tuple(_pairs(x.network.head_channels) for x in p)),
        ("Heads (Tables 1-2)", "1, 2, 4, 8", ("1, 2, 4, 8",) * len(p)),
        ("Steps: Table 1 / Table 2 / Table 3", "700K, 1200K / 700K / 700K",
         tuple(f"{milestone_label(x.milestones[0])}, {milestone_label(x.milestones[1])} / "
               f"{milestone_label(x.table2_steps)} / {milestone_label(x.table3_steps)}" for x in p)),
        ("Batch / lr (warm-up steps) / EMA", "256 / 1e-4 / 0.9999",
         tuple(f"{x.train.batch_size} / {x.train.lr:g} ({x.train.lr_warmup_steps}) / {_ema_text(x.train)}" for x in p)),
        ("Precision / AdamW / memory format", "fp16 with loss scaling / - / -",
         tuple(f"{x.train.precision.value} / {x.train.optimizer.value} / "
               f"{'channels_last' if x.train.channels_last else 'NCHW'}" for x in p)),
        ("Loss / variance", "hybrid (L_simple + 0.001 L_vlb) / learned", ("hybrid / learned",) * len(p)),
        ("Samples per row / sampler", "not stated (Fig. 2: 10k) / DDPM 250 steps",
         tuple(_sampler_text(x.sample) for x in p)),
        ("Extractor / reference", "Inception-v3 / whole training set",
         tuple(f"{x.evaluation.extractor} / " + ("committed reference batch" if x.evaluation.reference
                                                 else "built from the whole training set") for x in p)),
        ("Intervals", "none", tuple(f"bootstrap, {x.evaluation.bootstrap} resamples" for x in p)),
        ("Rows too short to mean anything", "-",
         tuple(f"trained < {x.evidence_steps} steps" if x.evidence_steps else "none" for x in p)),
        ("Guidance models", "trained 2M iterations (released checkpoints)",
         tuple("released 256x256 checkpoints" if x.guidance.source is GuidanceSource.RELEASED
               else f"trained here ({_guidance_steps_text(x.guidance)} steps, Table 3 AdaGN architecture)"
               for x in p)),
        ("Noisy classifier", "128 ch, depth 2, attention 32,16,8, attention pooling, 500K it",
         tuple("released 256x256 classifier" if x.guidance.classifier is None
               else f"{x.guidance.classifier.channels} ch, depth {x.guidance.classifier.depth}, "
                    f"{milestone_label(x.guidance.classifier.train.milestones[-1])} steps" for x in p)),
        ("Guidance scales / samples", "1.0, 10.0 / 50k, DDPM 250",
         tuple(f"{', '.join(f'{s:g}' for s in x.guidance.scales)} / {_sampler_text(x.guidance.sample)}" for x in p)),
    ]  # fmt: skip
    lines = ["| Setting | Paper | " + " | ".join(x.name for x in p) + " |", "|---" * (len(p) + 2) + "|"]
    lines += [f"| {name} | {paper} | {' | '.join(values)} |" for name, paper, values in rows]
    return "\n".join(lines) + "\n"
