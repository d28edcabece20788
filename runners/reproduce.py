"""Execute a reproduction plan: references, training (or released checkpoints), sampling and evaluation of every
table row, then render the report. Finished stages are skipped, interrupted ones resume, so rerunning the same
command after a crash or Ctrl-C continues where it stopped.

Under torchrun every process runs the same plan: training and sampling are distributed by the runners;
reference building, downloads, evaluation and the report run on rank 0 between barriers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from benchmark.data.reference_manifest import record_file
from benchmark.data.registry import open_dataset
from benchmark.distributed import World, barrier, init_from_env
from benchmark.errors import InputError
from benchmark.evaluation.evaluator import EvalOptions, bootstrap_settings, build_evaluator
from benchmark.extractors.base import ExtractorOptions
from benchmark.extractors.registry import build_extractor
from benchmark.io.atomic import write_json_atomic
from benchmark.io.download import RemoteFile, download
from benchmark.models.released import released_models
from benchmark.progress import QuietReporter, Reporter
from reports.render import MANIFEST_NAME, render_report
from runners.config import ClassifierRunConfig, ReleasedCheckpoint
from runners.evaluate_run import evaluate_run_archive
from runners.gd_checkpoint import prepare_published_run
from runners.plan import EvalStage, LoadStage, Plan, ReferenceStage, SampleStage, Stage, TrainStage, manifest, plan
from runners.presets import Preset
from runners.reference_build import build_reference
from runners.rundir import RunDir, sample_tag
from runners.sample import sample
from runners.train import train
from runners.train_classifier import train_classifier


@dataclass(frozen=True)
class ReproduceOptions:
    """How to execute a plan (none of these change a number)."""

    device: str = "cpu"
    num_workers: int = 0  # data-loader workers per training run
    render: bool = True


# ----------------------------------------------------------------------------------------------------------------
# Cost model for the progress bar's ETA: work units ~ network evaluations x images.


def stage_cost(stage: Stage) -> float:
    """Rough relative cost of a stage (the ETA is a rate over these units)."""
    if isinstance(stage, TrainStage):
        return 3.0 * stage.config.train.milestones[-1] * stage.config.train.batch_size
    if isinstance(stage, SampleStage):
        steps = stage.config.respacing.count or 1000
        return float(stage.config.num_samples * steps * (2 if stage.config.guidance_scale else 1))
    if isinstance(stage, EvalStage):
        return 5.0 * 200
    return 1000.0


class _PlanProgress:
    """One rich display: the plan's overall bar (with ETA) plus a bar per running task (a Reporter)."""

    def __init__(self, progress: Any, total: float) -> None:
        self._progress = progress
        self._overall = progress.add_task("[bold]reproduction", total=total, unit="")

    def advance_plan(self, amount: float) -> None:
        self._progress.advance(self._overall, amount)

    @contextmanager
    def task(self, description: str, total: int | None, unit: str = "img") -> Iterator[Any]:
        task_id = self._progress.add_task(description[:70], total=total, unit=unit)
        progress = self._progress

        class _T:
            def advance(self, n: int) -> None:
                progress.advance(task_id, n)

        try:
            yield _T()
        finally:
            progress.remove_task(task_id)

    def log(self, message: str) -> None:
        self._progress.console.print(message, highlight=False)

    def warn(self, message: str) -> None:
        self._progress.console.print(f"warning: {message}", highlight=False, markup=False)


@contextmanager
def _display(rich: bool, total: float, fallback: Reporter) -> Iterator[tuple[Reporter, Any]]:
    if not rich:
        yield fallback, None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, transient=False) as progress:
        display = _PlanProgress(progress, total)
        yield display, display  # type: ignore[misc]


# ----------------------------------------------------------------------------------------------------------------
# Stage execution.


def _run_reference(stage: ReferenceStage, preset: Preset, device: str, reporter: Reporter) -> None:
    if stage.path.is_file():
        return
    if stage.url is not None:
        reporter.log(f"downloading {stage.url}")
        path = download(RemoteFile(stage.url, stage.path.name), stage.path.parent)
        record_file(path, {"kind": "reference-batch", "source": stage.url,
                           "note": "no checksum is published; sha256 recorded on first download"})  # fmt: skip
        return
    if stage.build_dataset is None:
        raise InputError("reference batch not found and no way to build it", stage.path)
    reporter.log(f"building the reference batch {stage.path.name} from {stage.build_dataset} (whole training set)")
    dataset = open_dataset(stage.build_dataset, preset.resolution, preset.channels, class_cond=False)
    extractor = build_extractor(preset.evaluation.extractor, ExtractorOptions(device=device))
    build_reference(dataset, extractor, stage.path, num_images=preset.evaluation.reference_images, log=reporter.log)


def _run_load(stage: LoadStage, reporter: Reporter) -> None:
    if RunDir(stage.run_dir).exists():
        return
    checkpoint = stage.checkpoint_dir / stage.model.filename
    if not checkpoint.is_file():
        url = released_models()[stage.model.name]["url"]
        reporter.log(f"downloading {url}")
        checkpoint = download(RemoteFile(url, stage.model.filename), stage.checkpoint_dir)
    run = prepare_published_run(stage.model.name, checkpoint, stage.kind, stage.run_dir.parent.parent)
    assert run.path == stage.run_dir, (run.path, stage.run_dir)
    record = run.config
    assert isinstance(record, ReleasedCheckpoint)
    reporter.log(f"{stage.model.name}: sha256 {record.sha256} recorded in {run.config_path}")


def _run_stage(p: Plan, stage: Stage, options: ReproduceOptions, world: World, reporter: Reporter) -> None:
    if isinstance(stage, ReferenceStage):
        if world.is_main:
            _run_reference(stage, p.preset, options.device, reporter)
    elif isinstance(stage, LoadStage):
        if world.is_main:
            _run_load(stage, reporter)
    elif isinstance(stage, TrainStage):
        if isinstance(stage.config, ClassifierRunConfig):
            train_classifier(stage.config, p.out, options.device, reporter, num_workers=options.num_workers)
        else:
            train(stage.config, p.out, options.device, reporter, num_workers=options.num_workers)
    elif isinstance(stage, SampleStage):
        sample(stage.run_dir, stage.config, options.device, reporter)
    elif isinstance(stage, EvalStage):
        if world.is_main:
            sample_stage = p.stage(stage.sample)
            assert isinstance(sample_stage, SampleStage)
            run_dir = sample_stage.run_dir
            sample_dir = RunDir(run_dir).sample_dir(sample_tag(sample_stage.config))
            archives = sample_dir.archives()
            if not archives:
                raise InputError("no sample archive to evaluate; rerun to sample it", sample_dir.path)
            ref = p.stage(stage.reference)
            assert isinstance(ref, ReferenceStage)
            evaluator = build_evaluator(EvalOptions(extractor=stage.extractor, device=options.device,
                                                    bootstrap=bootstrap_settings(stage.bootstrap)))  # fmt: skip
            evaluate_run_archive(run_dir, archives[0], ref.path, sample_dir.tag, evaluator, reporter)
    barrier(world)


def write_manifest(p: Plan) -> Path:
    """Write `<out>/reproduce.json` (what the report is rendered from)."""
    path = p.out / MANIFEST_NAME
    write_json_atomic(path, manifest(p))
    return path


def reproduce(
    preset: Preset,
    tables: tuple[str, ...],
    seeds: int,
    out: str | Path,
    options: ReproduceOptions,
    data: str | None = None,
    checkpoint_dir: str | Path | None = None,
    reporter: Reporter | None = None,
    rich_display: bool = False,
) -> dict[str, Any]:
    """Run every pending stage of the plan, then render the report; returns a summary (stages run, seconds)."""
    if preset.dataset is None and data is None:
        raise InputError(f"preset {preset.name} trains on your data: pass --data DIR (an image folder)")
    world = init_from_env(options.device)
    reporter = reporter or QuietReporter()
    out = Path(out).resolve()
    started = time.perf_counter()
    p = plan(preset, tables, seeds, out, data, checkpoint_dir)
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_manifest(p)
    barrier(world)
    pending = [s for s in p.stages if s.status() != "done"]
    total = sum(stage_cost(s) for s in pending) or 1.0
    ran: list[str] = []
    timings: dict[str, float] = {}
    with _display(rich_display and world.is_main, total, reporter if world.is_main else QuietReporter()) as (rep, bar):
        for stage in p.stages:
            if stage.status() == "done":
                continue
            rep.log(f"[{len(ran) + 1}/{len(pending)}] {stage.key}")
            timings[stage.key] = _timed(p, stage, options, world, rep)
            ran.append(stage.key)
            if bar is not None:
                bar.advance_plan(stage_cost(stage))
    written: list[Path] = []
    if world.is_main and options.render:
        written = render_report(out)
    barrier(world)
    return {"stages_run": ran, "stages_total": len(p.stages), "seconds": time.perf_counter() - started,
            "timings": timings, "report": [str(w) for w in written], "plan": p}  # fmt: skip


def _timed(p: Plan, stage: Stage, options: ReproduceOptions, world: World, reporter: Reporter) -> float:
    start = time.perf_counter()
    _run_stage(p, stage, options, world, reporter)
    return time.perf_counter() - start


# ----------------------------------------------------------------------------------------------------------------
# Dry run.


def describe_plan(p: Plan, show_configs: bool = True) -> str:
    """The plan as text: every stage with its status, every run's hash and resolved config, and table sharing."""
    lines = [
        f"preset {p.preset.name}: tables {', '.join(p.tables)}, seeds {p.seeds}, output {p.out}",
        f"data {p.dataset}; stages: " + ", ".join(f"{n} {k}" for k, n in p.counts().items()),
        f"table cells: {len(p.slots)}; done {sum(1 for s in p.stages if s.status() == 'done')}/{len(p.stages)} stages",
        "",
    ]
    for stage in p.stages:
        users = p.shared.get(stage.key, [])
        shared = f"  (shared by {', '.join(users)})" if len(users) > 1 else ""
        lines.append(f"{stage.status():<24} {stage.key}{shared}")
        if isinstance(stage, TrainStage):
            lines.append(f"{'':<24}   hash {stage.hash}  dir {stage.run_dir}")
            if show_configs:
                text = json.dumps(stage.config.to_dict(), sort_keys=True)
                lines.append(f"{'':<24}   config {text}")
        elif isinstance(stage, SampleStage) and show_configs:
            lines.append(f"{'':<24}   sample {json.dumps(stage.config.to_dict(), sort_keys=True)}")
        elif isinstance(stage, LoadStage):
            lines.append(f"{'':<24}   released checkpoint {stage.model.name} in {stage.checkpoint_dir}")
        elif isinstance(stage, ReferenceStage):
            how = "download " + stage.url if stage.url else ("build from " + stage.build_dataset if stage.build_dataset else "committed")
            lines.append(f"{'':<24}   {stage.path} ({how})")
    return "\n".join(lines) + "\n"
