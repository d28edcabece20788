"""`admbench train`, `admbench train-classifier` and `admbench sample`: thin wrappers over the runners package."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from benchmark.cli.options import device_option
from benchmark.device import global_rank
from benchmark.diffusion.sampling import Sampler

if TYPE_CHECKING:
    from runners.config import RunKind


def _is_main_process() -> bool:
    return global_rank() == 0


def _reporter(quiet: bool):  # noqa: ANN202 - a benchmark.progress.Reporter
    from benchmark.progress import make_reporter

    return make_reporter(quiet or not _is_main_process())


def _preset_config(name: str, data: str | None, seed: int):  # noqa: ANN202 - a RunConfig
    """The Table 1 baseline row of a reproduction preset (runners.presets), at the preset's milestones."""
    from benchmark.data.registry import dataset_num_classes
    from benchmark.paper import TABLE1
    from runners import presets

    preset = presets.get_preset(name)
    dataset = data or preset.dataset
    if dataset is None:
        raise click.UsageError(f"preset {name!r} has no built-in dataset; pass --data")
    num_classes = dataset_num_classes(dataset, preset.resolution) if preset.class_cond else None
    return presets.run_config(preset, TABLE1[0].arch, dataset, tuple(preset.milestones), seed, num_classes)


def _run_training(config_path: Path | None, preset: str | None, data: str | None, seed: int, out: Path,
                  run_dir: Path | None, device: str, workers: int, quiet: bool, dry_run: bool, kind: RunKind) -> None:  # fmt: skip
    import json

    from runners.config import ClassifierRunConfig, RunConfig, RunKind, load_run_config
    from runners.rundir import RunDir
    from runners.trainloop import TrainingInterrupted

    if (config_path is None) == (preset is None):
        raise click.UsageError("give either CONFIG.json or --preset NAME")
    if config_path is not None:
        config = load_run_config(config_path)
    elif kind is RunKind.DIFFUSION:
        config = _preset_config(preset, data, seed)
    else:
        from runners import presets

        p = presets.get_preset(preset)
        dataset = data or p.dataset
        if dataset is None:
            raise click.UsageError(f"preset {preset!r} has no built-in dataset; pass --data")
        from benchmark.data.registry import dataset_num_classes

        config = presets.classifier_run_config(p, dataset, seed, dataset_num_classes(dataset, p.resolution))
    wanted = RunConfig if kind is RunKind.DIFFUSION else ClassifierRunConfig
    if not isinstance(config, wanted):
        other = "admbench train-classifier" if kind is RunKind.DIFFUSION else "admbench train"
        raise click.UsageError(f"{config_path or preset} is a {config.kind.value!r} config; use `{other}`")
    target = run_dir or RunDir.for_record(config, out).path
    if dry_run:
        click.echo(json.dumps({"run_dir": str(target), "config": config.to_dict()}, indent=2, sort_keys=True))
        return
    try:
        if kind is RunKind.DIFFUSION:
            from runners.train import train

            result = train(config, out, device, _reporter(quiet), run_dir=run_dir, num_workers=workers)
        else:
            from runners.train_classifier import train_classifier

            result = train_classifier(config, out, device, _reporter(quiet), run_dir=run_dir, num_workers=workers)
    except TrainingInterrupted as stop:
        click.echo(f"{stop}", err=True)
        sys.exit(stop.exit_code)
    if _is_main_process():
        click.echo(str(result))


_train_options = [
    click.argument("config_path", metavar="[CONFIG.json]", required=False,
                   type=click.Path(exists=True, dir_okay=False, path_type=Path)),
    click.option("--preset", default=None, metavar="NAME",
                 help="Instead of CONFIG.json: a reproduction preset (train: its Table 1 baseline row; "
                      "train-classifier: its guidance classifier)."),
    click.option("--data", default=None, metavar="SPEC", help="Dataset for --preset (overrides the preset's own)."),
    click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Training seed for --preset."),
    click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("out"), show_default=True,
                 help="Output root; the run lives in OUT/runs/<slug>-<hash>/."),
    click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
                 help="Use this run directory instead of the content-addressed one."),
    device_option("cpu", "cpu, cuda or cuda:N (cuda is cuda:LOCAL_RANK under torchrun)."),
    click.option("--workers", type=click.IntRange(min=0), default=4, show_default=True,
                 help="DataLoader workers for image folders (in-memory datasets need none)."),
    click.option("--quiet", is_flag=True, help="No progress output."),
    click.option("--dry-run", is_flag=True, help="Print the resolved config and run directory, then stop."),
]  # fmt: skip


def _apply(options: list):  # noqa: ANN202
    def decorate(fn):  # noqa: ANN001, ANN202
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


@click.command("train")
@_apply(_train_options)
def train(config_path: Path | None, preset: str | None, data: str | None, seed: int, out: Path, run_dir: Path | None,
          device: str, workers: int, quiet: bool, dry_run: bool) -> None:  # fmt: skip
    """Train a diffusion model from CONFIG.json; rerun the same command to resume (or do nothing when done).

    SIGTERM / SIGINT write a checkpoint at the next step boundary and exit with 143 / 130.

    \b
    Examples:
      admbench train runners/configs/smoke_baseline.json --out out/
      torchrun --nproc_per_node=2 cli.py train runners/configs/smoke_baseline.json --out out/
      admbench train --preset smoke --out out/ --dry-run
    """
    from runners.config import RunKind

    _run_training(config_path, preset, data, seed, out, run_dir, device, workers, quiet, dry_run, RunKind.DIFFUSION)


@click.command("train-classifier")
@_apply(_train_options)
def train_classifier(config_path: Path | None, preset: str | None, data: str | None, seed: int, out: Path,
                     run_dir: Path | None, device: str, workers: int, quiet: bool, dry_run: bool) -> None:  # fmt: skip
    """Train a noisy classifier (kind "classifier" config) on x_t at uniformly drawn timesteps; resumable.

    \b
    Examples:
      admbench train-classifier my_classifier.json --out out/
    """
    from runners.config import RunKind

    _run_training(config_path, preset, data, seed, out, run_dir, device, workers, quiet, dry_run, RunKind.CLASSIFIER)


@click.command("sample")
@click.argument("run_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              metavar="SAMPLE.json", help="A SampleConfig JSON; the options below override its values.")
@click.option("--milestone", type=click.IntRange(min=1), default=None, help="Training step of the weights [latest].")
@click.option("--num-samples", type=click.IntRange(min=1), default=None, help="Number of samples [50000].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Samples per forward pass [64].")
@click.option("--sampler", type=click.Choice([s.value for s in Sampler]), default=None, help="Sampler [ddpm].")
@click.option("--respacing", default=None, metavar="STEPS", help='Timestep respacing: "250", "ddim25", "" (all) [250].')
@click.option("--eta", type=float, default=None, help="DDIM eta [0].")
@click.option("--guidance-scale", type=float, default=None, help="Classifier guidance scale s (0 = none) [0].")
@click.option("--classifier-run", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Classifier run directory for guidance.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Sampling seed [0].")
@click.option("--no-ema", is_flag=True, help="Use the raw weights instead of the EMA weights.")
@click.option("--ema-rate", type=float, default=None, help="EMA rate [the run's first].")
@click.option("--no-clip", is_flag=True, help="Do not clip predicted x_0 to [-1, 1].")
@click.option("--shard-size", type=click.IntRange(min=1), default=1000, show_default=True, help="Samples per resumable shard.")
@click.option("--gd-checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Sample a released guided-diffusion checkpoint instead of a run (needs --gd-flags and --out).")
@click.option("--gd-flags", default="", metavar="FLAGS", help='Its flags: "--image_size 64 --class_cond True ...", JSON, or a JSON file.')
@click.option("--gd-classifier", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A released noisy classifier for guidance (with --gd-classifier-flags).")
@click.option("--gd-classifier-flags", default="", metavar="FLAGS", help="The classifier's flags.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("out"), show_default=True,
              help="Output root for --gd-checkpoint pseudo runs.")
@device_option("cpu", "cpu, cuda or cuda:N.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def sample(run_dir: Path | None, config_path: Path | None, milestone: int | None, num_samples: int | None,
           batch_size: int | None, sampler: str | None, respacing: str | None, eta: float | None,
           guidance_scale: float | None, classifier_run: Path | None, seed: int | None, no_ema: bool,
           ema_rate: float | None, no_clip: bool, shard_size: int, gd_checkpoint: Path | None, gd_flags: str,
           gd_classifier: Path | None, gd_classifier_flags: str, out: Path, device: str, quiet: bool) -> None:  # fmt: skip
    """Write a sample archive (arr_0 uint8 NHWC, arr_1 labels) into RUN_DIR/samples/<tag>/; resumable.

    Sample i is seeded by (seed, i) and labelled i % num_classes, so the archive is the same for any batch size,
    resumption or number of processes.

    \b
    Examples:
      admbench sample out/runs/fmnist16-...-a07f635e9e --num-samples 1000 --sampler ddim --respacing ddim25
      admbench sample --gd-checkpoint 64x64_diffusion.pt --gd-flags "--image_size 64 --class_cond True ..." --out out/
    """
    from benchmark.io.json_input import read_json_object
    from runners.config import ReleasedCheckpoint, SampleConfig
    from runners.gd_checkpoint import create_released_run, gd_classifier_run, gd_model_run
    from runners.rundir import RunDir
    from runners.sample import check_respacing, sampled_diffusion
    from runners.sample import sample as run_sample

    # Every input is checked before the run directory of a released checkpoint is written.
    pending: list[ReleasedCheckpoint] = []
    if gd_checkpoint is not None:
        if run_dir is not None:
            raise click.UsageError("give either RUN_DIR or --gd-checkpoint, not both")
        pending.append(gd_model_run(gd_checkpoint, gd_flags))  # every process: same flags, same directory
        run = RunDir.for_record(pending[-1], out)
    elif run_dir is None:
        raise click.UsageError("RUN_DIR (or --gd-checkpoint) is required")
    else:
        run = RunDir(run_dir)
    if gd_classifier is not None:
        if classifier_run is not None:
            raise click.UsageError("give either --classifier-run or --gd-classifier, not both")
        pending.append(gd_classifier_run(gd_classifier, gd_classifier_flags))
        classifier_run = RunDir.for_record(pending[-1], out).path

    base: dict = {}
    if config_path is not None:
        base = read_json_object(config_path, "sample config")
    overrides = {
        "milestone": milestone, "num_samples": num_samples, "batch_size": batch_size, "sampler": sampler,
        "respacing": respacing, "eta": eta, "guidance_scale": guidance_scale,
        "classifier_run": None if classifier_run is None else str(classifier_run), "seed": seed, "ema_rate": ema_rate,
    }  # fmt: skip
    data = {**base, **{k: v for k, v in overrides.items() if v is not None}}
    if no_ema:
        data["use_ema"] = False
    if no_clip:
        data["clip_denoised"] = False
    config = SampleConfig.from_dict(data, config_path)
    origin = "--respacing" if respacing is not None else (
        f"respacing of {config_path}" if "respacing" in base else "the default respacing")  # fmt: skip
    # The respacing must fit the model's number of diffusion steps; the error names the option or file it came from
    # (and the run's config: the one a released checkpoint's directory is about to get, or the run's own, read once).
    record = pending[0] if gd_checkpoint is not None else run.config
    check_respacing(sampled_diffusion(record, run.config_path), config.respacing, run.config_path, origin)

    for released in pending:
        create_released_run(released, out)

    archive = run_sample(run, config, device, _reporter(quiet), shard_size=shard_size)
    if _is_main_process():
        click.echo(str(archive))
