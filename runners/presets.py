"""Reproduction presets: how the paper's ablation and guidance settings map onto runnable configurations.

A `Preset` maps each paper setting to our value instead of copying absolute numbers:
  - channel widths: the paper's 160 / 128 base channels -> `widths` (GroupNorm's 32 groups bound the minimum),
  - depth (residual blocks per level): 2 / 4 -> `depths`,
  - attention resolutions by POSITION in the network: the paper's 8 px is the lowest level of its 128 px UNet,
    16 px the next one up, 32 px the one above; the same positions are taken in our network,
  - channels per head (Table 2): 32 / 64 / 128 -> `head_channels` (scaled with the narrow width, so each level
    keeps the paper's number of heads),
  - milestones: the paper's 700K / 1200K iterations -> `milestones`.
Rows of the tables are built by `table*_configs` from the paper's row settings (reports.published), so every
preset plans the same rows. `docs/PRESETS.md` is the prose version of `PRESETS` (`presets_markdown`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from benchmark.diffusion.config import DiffusionConfig
from benchmark.errors import InputError
from benchmark.models.config import ClassifierConfig, NormType, UNetConfig
from runners.config import ClassifierRunConfig, RunConfig, SampleConfig, TrainConfig

#: The paper's ablation network (ImageNet 128x128, channel_mult 1,1,2,3,4): levels 128, 64, 32, 16, 8 px.
PAPER_LOWEST_RES = 8
PAPER_BASELINE_ATTENTION = (16,)
PAPER_MULTIRES_ATTENTION = (32, 16, 8)


@dataclass(frozen=True)
class ReleasedModel:
    """A released guided-diffusion checkpoint (benchmark/models/released_configs.json) used instead of training."""

    name: str  # key in released_configs.json, e.g. "256x256_diffusion"
    filename: str  # file name inside the checkpoint directory


@dataclass(frozen=True)
class Preset:
    """Every setting of one reproduction; the three built-in presets are in `PRESETS`."""

    name: str
    summary: str
    # Data.
    dataset: str | None  # open_dataset spec; None: the user's --data folder is required
    resolution: int
    channels: int
    class_cond: bool  # ablation models are class-conditional (the paper does not say; AdaGN mentions a class embedding)
    # Architecture mapping (paper value -> ours).
    channel_mult: tuple[float, ...]
    widths: tuple[tuple[int, int], ...]  # ((160, ours), (128, ours))
    depths: tuple[tuple[int, int], ...]  # ((2, ours), (4, ours))
    head_channels: tuple[tuple[int, int], ...]  # ((32, ours), (64, ours), (128, ours))
    # Training (shared by all ablation rows).
    milestones: tuple[int, int]  # the paper's 700K and 1200K
    batch_size: int
    lr: float
    ema_rate: float
    weight_decay: float
    precision: str  # fp32 | bf16 | fp16 (the paper: fp16 with loss scaling, fp32 master weights)
    diffusion_steps: int
    checkpoint_every: int
    log_every: int
    # Sampling and evaluation of Tables 1-3.
    num_samples: int
    sample_batch_size: int
    sampler: str
    respacing: str
    extractor: str
    reference: str | None  # reference batch file (relative to the repository); None: built from the training set
    reference_images: int  # images kept in a built reference batch for precision / recall
    bootstrap: int  # bootstrap resamples for the FID interval (0 = none)
    # Guidance table.
    guidance_scales: tuple[float, ...]
    guidance_source: str  # "train": trained here; "released": the paper's released checkpoints
    guidance_milestone: int
    guidance_num_samples: int
    guidance_sampler: str
    guidance_respacing: str
    guidance_resolution: int
    classifier_channels: int
    classifier_depth: int
    classifier_steps: int
    classifier_batch_size: int
    classifier_lr: float
    classifier_weight_decay: float
    released_unet_cond: ReleasedModel | None = None
    released_unet_uncond: ReleasedModel | None = None
    released_classifier: ReleasedModel | None = None
    released_reference_url: str | None = None  # the guidance table's reference batch (paper preset)

    def __post_init__(self) -> None:
        if self.guidance_source not in ("train", "released"):
            raise InputError(f"preset {self.name}: guidance_source must be 'train' or 'released'")
        if self.guidance_source == "released" and None in (
            self.released_unet_cond, self.released_unet_uncond, self.released_classifier, self.released_reference_url
        ):  # fmt: skip
            raise InputError(f"preset {self.name}: released guidance needs both models, the classifier and a reference")
        if not 0 < self.milestones[0] < self.milestones[1]:
            raise InputError(f"preset {self.name}: milestones must be increasing, got {self.milestones}")

    # Paper value -> ours.
    def width(self, paper: int) -> int:
        return _lookup(self.widths, paper, "channels", self.name)

    def depth(self, paper: int) -> int:
        return _lookup(self.depths, paper, "depth", self.name)

    def head_channel(self, paper: int) -> int:
        return _lookup(self.head_channels, paper, "channels per head", self.name)

    def attention(self, paper_resolutions: tuple[int, ...]) -> tuple[int, ...]:
        """The paper's attention resolutions mapped by their position above the lowest level of the network."""
        lowest = self.resolution // 2 ** (len(self.channel_mult) - 1)
        out = []
        for res in paper_resolutions:
            up = int(round(math.log2(res / PAPER_LOWEST_RES)))
            out.append(lowest * 2**up)
        return tuple(out)

    def milestone_labels(self) -> tuple[str, str]:
        return milestone_label(self.milestones[0]), milestone_label(self.milestones[1])


def _lookup(pairs: tuple[tuple[int, int], ...], paper: int, what: str, preset: str) -> int:
    for key, value in pairs:
        if key == paper:
            return value
    raise InputError(f"preset {preset} has no mapping for the paper's {what} {paper}")


def milestone_label(step: int) -> str:
    """700000 -> '700K', 240 -> '240'."""
    return f"{step // 1000}K" if step >= 1000 and step % 1000 == 0 else str(step)


# ----------------------------------------------------------------------------------------------------------------
# The built-in presets.

SMOKE = Preset(
    name="smoke",
    summary="Fashion-MNIST 16x16, tiny UNets and a few dozen steps: shows the pipeline works on 2 CPU cores "
    "(its numbers are NOT evidence about the paper's claims).",
    dataset="fashion-mnist",
    resolution=16,
    channels=1,
    class_cond=True,
    channel_mult=(1, 2, 2),
    widths=((160, 64), (128, 32)),
    depths=((2, 1), (4, 2)),
    head_channels=((32, 8), (64, 16), (128, 32)),
    milestones=(40, 60),
    batch_size=8,
    lr=2e-4,
    ema_rate=0.99,
    weight_decay=0.0,
    precision="fp32",
    diffusion_steps=1000,
    checkpoint_every=20,
    log_every=10,
    num_samples=100,
    sample_batch_size=100,
    sampler="ddim",
    respacing="ddim5",
    extractor="fmnist-cnn",
    reference="reference_stats/fmnist-train-16x16x1-fmnist-cnn.npz",
    reference_images=10_000,
    bootstrap=50,
    guidance_scales=(1.0, 10.0),
    guidance_source="train",
    guidance_milestone=40,
    guidance_num_samples=100,
    guidance_sampler="ddim",
    guidance_respacing="ddim5",
    guidance_resolution=16,
    classifier_channels=32,
    classifier_depth=1,
    classifier_steps=40,
    classifier_batch_size=16,
    classifier_lr=3e-4,
    classifier_weight_decay=0.05,
)

FMNIST = Preset(
    name="fmnist",
    summary="Fashion-MNIST 32x32 with the paper's widths, depths and heads, 1/30 of its iterations: meaningful "
    "ablation differences on one GPU (proxy extractor, not Inception).",
    dataset="fashion-mnist",
    resolution=32,
    channels=1,
    class_cond=True,
    channel_mult=(1, 2, 2, 2),
    widths=((160, 160), (128, 128)),
    depths=((2, 2), (4, 4)),
    head_channels=((32, 32), (64, 64), (128, 128)),
    milestones=(25_000, 40_000),
    batch_size=128,
    lr=1e-4,
    ema_rate=0.9999,
    weight_decay=0.0,
    precision="bf16",
    diffusion_steps=1000,
    checkpoint_every=5_000,
    log_every=100,
    num_samples=10_000,
    sample_batch_size=500,
    sampler="ddpm",
    respacing="100",
    extractor="fmnist-cnn",
    reference="reference_stats/fmnist-train-32x32x1-fmnist-cnn.npz",
    reference_images=10_000,
    bootstrap=200,
    guidance_scales=(0.5, 1.0, 2.0, 5.0, 10.0),
    guidance_source="train",
    guidance_milestone=25_000,
    guidance_num_samples=10_000,
    guidance_sampler="ddpm",
    guidance_respacing="100",
    guidance_resolution=32,
    classifier_channels=64,
    classifier_depth=2,
    classifier_steps=20_000,
    classifier_batch_size=128,
    classifier_lr=3e-4,
    classifier_weight_decay=0.05,
)

_RELEASED_BASE = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/"

PAPER = Preset(
    name="paper",
    summary="The paper's protocol on your ImageNet 128x128 folder (--data): batch 256, hybrid loss, learned "
    "variance, EMA 0.9999, lr 1e-4, 700K / 1200K iterations, 250 sampling steps, Inception features; the "
    "guidance table uses the released 256x256 checkpoints.",
    dataset=None,
    resolution=128,
    channels=3,
    class_cond=True,
    channel_mult=(1, 1, 2, 3, 4),
    widths=((160, 160), (128, 128)),
    depths=((2, 2), (4, 4)),
    head_channels=((32, 32), (64, 64), (128, 128)),
    milestones=(700_000, 1_200_000),
    batch_size=256,
    lr=1e-4,
    ema_rate=0.9999,
    weight_decay=0.0,
    precision="fp16",
    diffusion_steps=1000,
    checkpoint_every=10_000,
    log_every=100,
    num_samples=10_000,
    sample_batch_size=256,
    sampler="ddpm",
    respacing="250",
    extractor="inception-v3",
    reference=None,
    reference_images=10_000,
    bootstrap=100,
    guidance_scales=(1.0, 10.0),
    guidance_source="released",
    guidance_milestone=2_000_000,
    guidance_num_samples=50_000,
    guidance_sampler="ddpm",
    guidance_respacing="250",
    guidance_resolution=256,
    classifier_channels=128,
    classifier_depth=2,
    classifier_steps=500_000,
    classifier_batch_size=256,
    classifier_lr=3e-4,
    classifier_weight_decay=0.05,
    released_unet_cond=ReleasedModel("256x256_diffusion", "256x256_diffusion.pt"),
    released_unet_uncond=ReleasedModel("256x256_diffusion_uncond", "256x256_diffusion_uncond.pt"),
    released_classifier=ReleasedModel("256x256_classifier", "256x256_classifier.pt"),
    released_reference_url=_RELEASED_BASE + "ref_batches/imagenet/256/VIRTUAL_imagenet256_labeled.npz",
)

PRESETS: dict[str, Preset] = {p.name: p for p in (SMOKE, FMNIST, PAPER)}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]


# ----------------------------------------------------------------------------------------------------------------
# Row settings -> configs.


@dataclass(frozen=True)
class ArchSetting:
    """One row's architecture in the paper's terms (Tables 1-3)."""

    channels: int = 160
    depth: int = 2
    heads: int = 1
    head_channels: int | None = None
    attention: tuple[int, ...] = PAPER_BASELINE_ATTENTION
    updown: bool = False
    rescale: bool = False
    adagn: bool = True


_T1_BASE = ArchSetting()
TABLE1_SETTINGS: dict[str, ArchSetting] = {
    "baseline": _T1_BASE,
    "channels128-depth4": dataclasses.replace(_T1_BASE, channels=128, depth=4),
    "heads4": dataclasses.replace(_T1_BASE, heads=4),
    "multires-attention": dataclasses.replace(_T1_BASE, attention=PAPER_MULTIRES_ATTENTION),
    "biggan-updown": dataclasses.replace(_T1_BASE, updown=True),
    "rescale-resblock": dataclasses.replace(_T1_BASE, rescale=True),
    "combined": dataclasses.replace(_T1_BASE, heads=4, attention=PAPER_MULTIRES_ATTENTION, updown=True),
}
_T2_BASE = ArchSetting(channels=128, depth=2, attention=PAPER_MULTIRES_ATTENTION, updown=True)
TABLE2_SETTINGS: dict[str, ArchSetting] = {
    "heads1": dataclasses.replace(_T2_BASE, heads=1),
    "heads2": dataclasses.replace(_T2_BASE, heads=2),
    "heads4": dataclasses.replace(_T2_BASE, heads=4),
    "heads8": dataclasses.replace(_T2_BASE, heads=8),
    "head-channels32": dataclasses.replace(_T2_BASE, head_channels=32),
    "head-channels64": dataclasses.replace(_T2_BASE, head_channels=64),
    "head-channels128": dataclasses.replace(_T2_BASE, head_channels=128),
}
TABLE3_SETTINGS: dict[str, ArchSetting] = {
    "adagn": dataclasses.replace(_T2_BASE, head_channels=64, adagn=True),
    "addition-groupnorm": dataclasses.replace(_T2_BASE, head_channels=64, adagn=False),
}
#: The guidance table's diffusion models when trained here: the paper's final architecture (Table 3 AdaGN row).
GUIDANCE_SETTING = TABLE3_SETTINGS["adagn"]


def unet_config(preset: Preset, arch: ArchSetting, class_cond: bool) -> UNetConfig:
    """The UNet of one row, mapped onto the preset's network."""
    return UNetConfig(
        image_size=preset.resolution,
        in_channels=preset.channels,
        out_channels=preset.channels,
        learn_sigma=True,
        model_channels=preset.width(arch.channels),
        channel_mult=preset.channel_mult,
        num_res_blocks=preset.depth(arch.depth),
        attention_resolutions=preset.attention(arch.attention),
        num_heads=arch.heads,
        num_head_channels=None if arch.head_channels is None else preset.head_channel(arch.head_channels),
        resblock_updown=arch.updown,
        rescale_skip=arch.rescale,
        norm=NormType.ADAGN if arch.adagn else NormType.ADDITION_GROUPNORM,
        num_classes=10 if class_cond and preset.dataset == "fashion-mnist" else (1000 if class_cond else None),
    )


def diffusion_config(preset: Preset) -> DiffusionConfig:
    """Linear schedule, epsilon prediction, learned-range variance, hybrid loss (L_simple + lambda L_vlb)."""
    return DiffusionConfig(steps=preset.diffusion_steps)


def train_config(preset: Preset, dataset: str, milestones: tuple[int, ...], seed: int, class_cond: bool) -> TrainConfig:
    return TrainConfig(
        dataset=dataset,
        resolution=preset.resolution,
        channels=preset.channels,
        class_cond=class_cond,
        batch_size=preset.batch_size,
        lr=preset.lr,
        weight_decay=preset.weight_decay,
        ema_rates=(preset.ema_rate,),
        precision=preset.precision,
        milestones=milestones,
        seed=seed,
        log_every=preset.log_every,
        checkpoint_every=preset.checkpoint_every,
    )


def run_config(preset: Preset, arch: ArchSetting, dataset: str, milestones: tuple[int, ...], seed: int,
               class_cond: bool | None = None) -> RunConfig:  # fmt: skip
    """The training run of one row."""
    cond = preset.class_cond if class_cond is None else class_cond
    return RunConfig(
        unet=unet_config(preset, arch, cond),
        diffusion=diffusion_config(preset),
        train=train_config(preset, dataset, milestones, seed, cond),
    )


def classifier_run_config(preset: Preset, dataset: str, seed: int) -> ClassifierRunConfig:
    """The noisy classifier for the guidance table (trained here): the paper's Table 12 design, preset-sized."""
    levels = len(preset.channel_mult)
    lowest = preset.resolution // 2 ** (levels - 1)
    head = preset.head_channel(64)
    config = ClassifierConfig(
        image_size=preset.resolution,
        in_channels=preset.channels,
        num_classes=10 if preset.dataset == "fashion-mnist" else 1000,
        model_channels=preset.classifier_channels,
        channel_mult=preset.channel_mult,
        num_res_blocks=preset.classifier_depth,
        attention_resolutions=tuple(lowest * 2**i for i in range(min(3, levels)))[::-1],
        num_heads=1,
        num_head_channels=min(head, preset.classifier_channels),
    )
    train = TrainConfig(
        dataset=dataset,
        resolution=preset.resolution,
        channels=preset.channels,
        class_cond=True,
        batch_size=preset.classifier_batch_size,
        lr=preset.classifier_lr,
        lr_anneal_steps=preset.classifier_steps,
        weight_decay=preset.classifier_weight_decay,
        ema_rates=(),
        milestones=(preset.classifier_steps,),
        seed=seed,
        log_every=preset.log_every,
        checkpoint_every=preset.checkpoint_every,
    )
    return ClassifierRunConfig(classifier=config, diffusion=diffusion_config(preset), train=train)


def sample_config(preset: Preset, milestone: int, seed: int, guidance: bool = False, scale: float = 0.0,
                  classifier_run: str | None = None) -> SampleConfig:  # fmt: skip
    """Sampling of one row at one milestone (EMA weights of the preset's rate)."""
    return SampleConfig(
        milestone=milestone,
        num_samples=preset.guidance_num_samples if guidance else preset.num_samples,
        batch_size=preset.sample_batch_size,
        sampler=preset.guidance_sampler if guidance else preset.sampler,
        respacing=preset.guidance_respacing if guidance else preset.respacing,
        guidance_scale=scale,
        classifier_run=classifier_run,
        seed=seed,
        use_ema=True,
        ema_rate=preset.ema_rate,
    )


def released_sample_config(preset: Preset, seed: int, scale: float, classifier_run: str | None) -> SampleConfig:
    """Sampling of a released checkpoint (no milestone, raw weights: the released files are EMA weights)."""
    return SampleConfig(
        milestone=None,
        num_samples=preset.guidance_num_samples,
        batch_size=preset.sample_batch_size,
        sampler=preset.guidance_sampler,
        respacing=preset.guidance_respacing,
        guidance_scale=scale,
        classifier_run=classifier_run,
        seed=seed,
        use_ema=False,
        ema_rate=None,
    )


def preset_to_dict(preset: Preset) -> dict[str, Any]:
    """JSON-ready preset (recorded in the reproduction manifest and the report)."""
    return dataclasses.asdict(preset)


# ----------------------------------------------------------------------------------------------------------------
# Documentation (docs/PRESETS.md is checked against this table by the tests).


def _pairs(items: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(f"{a} -> {b}" for a, b in items)


def presets_markdown() -> str:
    """The paper-to-preset mapping of every setting as one Markdown table (paper column first)."""
    p = (SMOKE, FMNIST, PAPER)
    paper_m = "700K / 1200K"
    rows: list[tuple[str, str, tuple[str, ...]]] = [
        ("Data", "ImageNet 128x128 (Tables 1-3), 256x256 (guidance)",
         tuple(x.dataset and f"Fashion-MNIST {x.resolution}x{x.resolution}x{x.channels}" or
               f"--data folder at {x.resolution}x{x.resolution}" for x in p)),
        ("channel_mult (levels)", "1,1,2,3,4 (128, 64, 32, 16, 8 px)",
         tuple(",".join(f"{m:g}" for m in x.channel_mult) + " (" + ", ".join(
             str(x.resolution // 2**i) for i in range(len(x.channel_mult))) + " px)" for x in p)),
        ("Channels (Table 1)", "160 / 128", tuple(_pairs(x.widths) for x in p)),
        ("Depth (res blocks per level)", "2 / 4", tuple(_pairs(x.depths) for x in p)),
        ("Attention resolutions", "16 (second-lowest level); 32,16,8 (lowest three)",
         tuple(f"{','.join(map(str, x.attention((16,))))}; {','.join(map(str, x.attention((32, 16, 8))))}" for x in p)),
        ("Channels per head (Table 2)", "32 / 64 / 128", tuple(_pairs(x.head_channels) for x in p)),
        ("Heads (Tables 1-2)", "1, 2, 4, 8", ("1, 2, 4, 8",) * 3),
        ("Milestones (Table 1; Tables 2-3 use the first)", paper_m,
         tuple(f"{milestone_label(x.milestones[0])} / {milestone_label(x.milestones[1])}" for x in p)),
        ("Batch / lr / EMA", "256 / 1e-4 / 0.9999", tuple(f"{x.batch_size} / {x.lr:g} / {x.ema_rate:g}" for x in p)),
        ("Precision", "fp16 with loss scaling", tuple(x.precision for x in p)),
        ("Loss / variance", "hybrid (L_simple + 0.001 L_vlb) / learned", ("hybrid / learned",) * 3),
        ("Samples per row / sampler", "not stated (Fig. 2: 10k) / DDPM 250 steps",
         tuple(f"{x.num_samples} / {x.sampler.upper()} {x.respacing}" for x in p)),
        ("Extractor / reference", "Inception-v3 / whole training set",
         tuple(f"{x.extractor} / " + ("committed reference batch" if x.reference else "built from the whole training set")
               for x in p)),
        ("FID interval", "none", tuple(f"bootstrap, {x.bootstrap} resamples" for x in p)),
        ("Guidance models", "trained 2M iterations (released checkpoints)",
         tuple("released 256x256 checkpoints" if x.guidance_source == "released"
               else f"trained here ({milestone_label(x.guidance_milestone)} steps, Table 3 AdaGN architecture)" for x in p)),
        ("Noisy classifier", "128 ch, depth 2, attention 32,16,8, attention pooling, 500K it",
         tuple("released 256x256 classifier" if x.guidance_source == "released"
               else f"{x.classifier_channels} ch, depth {x.classifier_depth}, {milestone_label(x.classifier_steps)} steps"
               for x in p)),
        ("Guidance scales / samples", "1.0, 10.0 / 50k, DDPM 250",
         tuple(f"{', '.join(f'{s:g}' for s in x.guidance_scales)} / {x.guidance_num_samples}, "
               f"{x.guidance_sampler.upper()} {x.guidance_respacing}" for x in p)),
    ]  # fmt: skip
    lines = ["| Setting | Paper | smoke | fmnist | paper |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {paper} | {' | '.join(values)} |" for name, paper, values in rows]
    return "\n".join(lines) + "\n"
