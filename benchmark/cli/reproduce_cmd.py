"""`admbench reproduce`: plan and run every row of the paper's Tables 1-3 and the guidance table, then render
the report (resumable; rerun the same command to continue)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from benchmark.cli.options import device_option
from runners.presets import PRESETS


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@click.command()
@click.option("--preset", "preset_name", type=click.Choice(list(PRESETS)), default="smoke",
              show_default=True, help="Scale of the reproduction (see docs/PRESETS.md).")
@click.option("--tables", "tables_text", default="1,2,3,guidance", show_default=True, metavar="LIST",
              help="Tables to reproduce: any of 1,2,3,guidance (or 'all').")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reproduction"),
              show_default=True, help="Output directory (runs/, reference/, report/, reproduce.json).")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Training seeds per row (intervals across seeds when N > 1).")
@click.option("--data", type=str, default=None, metavar="DIR",
              help="Training images (required by the paper preset: your ImageNet 128x128 folder).")
@click.option("--checkpoint-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding the released guided-diffusion checkpoints (paper preset; else they are downloaded).")
@device_option(None, "cpu, cuda, cuda:N  [default: cuda when available]")
@click.option("--num-workers", type=click.IntRange(min=0), default=None, metavar="N",
              help="Data-loader workers per training run  [default: 0 on CPU, 4 on CUDA]")
@click.option("--dry-run", is_flag=True, help="Print the plan (every run's config, hash and status) and exit.")
@click.option("--quiet", is_flag=True, help="No progress display.")
def reproduce(preset_name: str, tables_text: str, out: Path, seeds: int, data: str | None, checkpoint_dir: Path | None,
              device: str | None, num_workers: int | None, dry_run: bool, quiet: bool) -> None:  # fmt: skip
    """Reproduce the paper's ablation tables and the guidance table end to end.

    Every row becomes runs (train -> checkpoints at the two milestones -> sample -> evaluate); identical runs
    are shared between tables, finished stages are skipped, and a rerun resumes after a crash or Ctrl-C.
    Works under torchrun (every process runs the same plan).

    \b
    Examples:
      admbench reproduce                                  # smoke preset, all tables, ./reproduction
      admbench reproduce --preset fmnist --out runs/fmnist
      admbench reproduce --preset paper --data /data/imagenet128 --dry-run
      torchrun --nproc_per_node 8 cli.py reproduce --preset paper --data /data/imagenet128
      admbench report reproduction                        # re-render the report from stored metrics
    """
    from benchmark.progress import make_reporter
    from runners.plan import parse_tables, plan
    from runners.presets import get_preset
    from runners.reproduce import ReproduceOptions, describe_plan
    from runners.reproduce import reproduce as run_reproduction
    from runners.trainloop import TrainingInterrupted

    preset = get_preset(preset_name)
    tables = parse_tables(tables_text)
    if dry_run:
        click.echo(describe_plan(plan(preset, tables, seeds, out, data, checkpoint_dir)), nl=False)
        return
    from benchmark.io.outputs import check_writable_dir

    check_writable_dir(out, "--out")
    device = device or _default_device()
    workers = num_workers if num_workers is not None else (4 if device.startswith("cuda") else 0)
    options = ReproduceOptions(device=device, num_workers=workers)
    reporter = make_reporter(quiet)
    rich_display = not quiet and sys.stderr.isatty()
    try:
        summary = run_reproduction(preset, tables, seeds, out, options, data, checkpoint_dir, reporter, rich_display)
    except TrainingInterrupted as exc:
        click.echo(f"{exc}", err=True)
        sys.exit(exc.exit_code)
    if summary["report"]:
        click.echo(f"ran {len(summary['stages_run'])} of {summary['stages_total']} stages in {summary['seconds']:.0f} s; "
                   f"report: {Path(out) / 'report' / 'README.md'}")  # fmt: skip
