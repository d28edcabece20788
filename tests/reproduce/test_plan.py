"""Planning: rows -> runs, identical runs shared between tables, statuses read from disk, dry run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.errors import InputError
from runners import checkpointing as ckpt
from runners.config import ClassifierRunConfig, RunConfig, RunKind
from runners.plan import TABLES, EvalStage, LoadStage, SampleStage, TrainStage, parse_tables, plan
from benchmark.paper import TABLE1, TABLE2
from runners.presets import CPU, PAPER, PRESETS, SMOKE, run_config
from runners.rundir import RunDir, config_hash


def _trains(p) -> list[TrainStage]:
    return [s for s in p.stages if isinstance(s, TrainStage)]


def test_smoke_plan_shares_identical_runs(tmp_path: Path) -> None:
    p = plan(SMOKE, TABLES, 1, tmp_path)
    trains = _trains(p)
    # 7 (Table 1) + 6 new (Table 2: its 4-heads row is Table 1's combined row once 160 and 128 channels both map
    # to 32) + 1 new (Table 3: AdaGN = Table 2's 64-channels-per-head row) + 1 unconditional model
    # + 1 classifier (the conditional guidance model is Table 3's AdaGN run).
    assert len(trains) == 16
    assert len({s.key for s in p.stages}) == len(p.stages)
    assert len({t.hash for t in trains}) == 16
    model_of = {(s.table, s.row, s.column): p.stage(p.stage(s.eval_key).sample).model for s in p.slots}
    assert model_of[("3", "adagn", "fid")] == model_of[("2", "head-channels64", "fid")]
    assert model_of[("guidance", "cond-noguidance", "all")] == model_of[("3", "adagn", "fid")]
    assert model_of[("2", "heads4", "fid")] == model_of[("1", "combined", "m2")]
    assert model_of[("guidance", "uncond-noguidance", "all")] != model_of[("guidance", "cond-noguidance", "all")]
    # A shared run trains to the last step any of its rows needs and keeps the earlier ones as milestones.
    shared = p.stage(model_of[("3", "adagn", "fid")])
    assert shared.config.train.milestones == tuple(sorted({SMOKE.table2_steps, SMOKE.table3_steps,
                                                            SMOKE.guidance.steps}))  # fmt: skip
    combined = p.stage(model_of[("1", "combined", "m2")])
    assert combined.config.train.milestones == tuple(sorted({*SMOKE.milestones, SMOKE.table2_steps}))
    # The smoke preset's unconditional model is shorter than the conditional one, and samples its own last step.
    uncond = p.stage(model_of[("guidance", "uncond-noguidance", "all")])
    assert uncond.config.train.milestones == (SMOKE.guidance.uncond_steps,)
    uncond_eval = next(s.eval_key for s in p.slots if s.row == "uncond-noguidance")
    assert p.stage(p.stage(uncond_eval).sample).config.milestone == SMOKE.guidance.uncond_steps
    assert len(p.slots) == 14 + 7 + 2 + 6
    # Where two tables sample the same run at the same step with the same settings, one evaluation fills both.
    by_cell = {(s.table, s.row, s.column): s.eval_key for s in p.slots}
    assert by_cell[("1", "combined", "m1")] == by_cell[("2", "heads4", "fid")]  # both at step 10
    cpu = plan(CPU, TABLES, 1, tmp_path)
    cpu_cells = {(s.table, s.row, s.column): s.eval_key for s in cpu.slots}
    assert cpu_cells[("1", "combined", "m1")] == cpu_cells[("2", "heads4", "fid")]  # both at step 400
    # The cpu preset's Table 3 AdaGN row samples the conditional guidance model's run at Table 3's step, and the
    # guidance rows sample the same run at its last step.
    cpu_model = {k: cpu.stage(cpu.stage(e).sample).model for k, e in cpu_cells.items()}
    assert cpu_model[("3", "adagn", "fid")] == cpu_model[("guidance", "cond-noguidance", "all")]
    step_of = {k: cpu.stage(cpu.stage(e).sample).config.milestone for k, e in cpu_cells.items()}
    assert step_of[("3", "adagn", "fid")] == CPU.table3_steps < CPU.guidance.steps
    assert step_of[("guidance", "cond-noguidance", "all")] == CPU.guidance.steps
    assert cpu.stage(cpu_model[("3", "adagn", "fid")]).config.train.milestones[-1] == CPU.guidance.steps
    classifiers = [t for t in trains if isinstance(t.config, ClassifierRunConfig)]
    assert len(classifiers) == 1
    # The classifier trains before any guided sample, and every sample follows its model.
    order = [s.key for s in p.stages]
    for s in p.stages:
        if isinstance(s, SampleStage):
            assert order.index(s.model) < order.index(s.key)
            if s.classifier:
                assert order.index(s.classifier) < order.index(s.key)
        if isinstance(s, EvalStage):
            assert order.index(s.sample) < order.index(s.key)


def test_seeds_multiply_the_runs(tmp_path: Path) -> None:
    one = plan(SMOKE, ("1",), 1, tmp_path)
    two = plan(SMOKE, ("1",), 2, tmp_path)
    assert len(_trains(two)) == 2 * len(_trains(one)) == 14
    assert {s.seed for s in two.slots} == {0, 1}


def test_rows_map_the_paper_settings(tmp_path: Path) -> None:
    rows = {r.key: r.arch for r in TABLE1}
    base = run_config(SMOKE, rows["baseline"], "fashion-mnist", (40, 60), 0, 10)
    deep = run_config(SMOKE, rows["channels128-depth4"], "fashion-mnist", (40, 60), 0, 10)
    multi = run_config(SMOKE, rows["multires-attention"], "fashion-mnist", (40, 60), 0, 10)
    assert (base.unet.model_channels, deep.unet.model_channels) == (32, 32)
    assert base.unet.num_classes == 10 and run_config(SMOKE, rows["baseline"], "fashion-mnist", (40,), 0, None).unet.num_classes is None
    assert (base.unet.num_res_blocks, deep.unet.num_res_blocks) == (1, 2)
    # Attention by position: the paper's 16 px is the second-lowest level (8 px here), 32,16,8 the lowest three.
    assert base.unet.attention_resolutions == (8,)
    assert multi.unet.attention_resolutions == (16, 8, 4)
    paper = run_config(PAPER, rows["multires-attention"], "/data/in128", (700_000, 1_200_000), 0, 1000)
    assert paper.unet.attention_resolutions == (32, 16, 8)
    assert paper.unet.model_channels == 160 and paper.train.batch_size == 256 and paper.train.ema_rates == (0.9999,)
    # The paper preset keeps ADM's EMA exactly (no warm-up) and fp16 with loss scaling.
    assert paper.train.ema_warmup is False and paper.train.precision.value == "fp16"
    hc = run_config(SMOKE, next(r.arch for r in TABLE2 if r.key == "head-channels32"), "fashion-mnist", (60,), 0, 10)
    assert hc.unet.num_head_channels == 8  # 32 x (32 / 128): the paper's heads per level are kept


def test_status_follows_the_filesystem(tmp_path: Path) -> None:
    p = plan(SMOKE, ("3",), 1, tmp_path)
    train = _trains(p)[0]
    assert train.status() == "pending"
    (train.run_dir / "checkpoints").mkdir(parents=True)
    last = SMOKE.table3_steps
    RunDir(train.run_dir).state(last // 2).write_bytes(b"x")
    assert train.status() == f"partial (step {last // 2}/{last})"
    RunDir(train.run_dir).state(last).write_bytes(b"x")
    assert train.status() == f"damaged (step {last}/{last})"  # an unreadable final checkpoint is not done
    ckpt.save_state(RunDir(train.run_dir), last, {"step": last, "model": {}})
    assert train.status() == f"damaged (step {last}/{last})"  # nor are missing EMA weights
    for rate in train.config.train.ema_rates:
        ckpt.save_ema(RunDir(train.run_dir), rate, last, {"w": torch.zeros(1)}, {})
    assert train.status() == "done"
    ev = next(s for s in p.stages if isinstance(s, EvalStage))
    assert ev.status() == "pending"
    ev.metrics_path.parent.mkdir(parents=True, exist_ok=True)
    ev.metrics_path.write_text("{}")
    assert plan(SMOKE, ("3",), 1, tmp_path).stage(ev.key).status() == "done"


def test_paper_preset_plans_without_data_and_loads_released_models(tmp_path: Path) -> None:
    p = plan(PAPER, TABLES, 1, tmp_path, dataset="/data/imagenet128")
    loads = [s for s in p.stages if isinstance(s, LoadStage)]
    assert sorted(s.model.name for s in loads) == ["256x256_classifier", "256x256_diffusion", "256x256_diffusion_uncond"]
    trains = _trains(p)
    assert len(trains) == 15  # Tables 1-3 only: the guidance models are loaded, not trained
    assert all(isinstance(t.config, RunConfig) and t.config.train.dataset == "/data/imagenet128" for t in trains)
    assert all(t.config.train.milestones[-1] in (700_000, 1_200_000) for t in trains)
    samples = [s for s in p.stages if isinstance(s, SampleStage)]
    assert {str(s.config.respacing) for s in samples} == {"250"}
    assert {s.config.num_samples for s in samples if s.model.startswith("load:")} == {50_000}
    refs = {s.key for s in p.stages if s.key.startswith("ref:")}
    assert "ref:VIRTUAL_imagenet256_labeled.npz" in refs and len(refs) == 2


def test_dry_run_prints_configs_hashes_and_status(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["reproduce", "--dry-run", "--tables", "2,3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    p = plan(SMOKE, ("2", "3"), 1, tmp_path)
    for t in _trains(p):
        assert t.hash in result.output
        assert t.hash == config_hash(t.config)
        assert json.dumps(t.config.to_dict(), sort_keys=True) in result.output
    assert "pending" in result.output and "shared by table2/head-channels64/seed0, table3/adagn/seed0" in result.output
    assert not (tmp_path / "runs").exists()  # a dry run writes nothing
    result = runner.invoke(main, ["reproduce", "--preset", "paper", "--dry-run", "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert "256x256_diffusion_uncond" in result.output and "VIRTUAL_imagenet256_labeled.npz" in result.output


def test_bad_input() -> None:
    assert parse_tables("guidance,1") == ("1", "guidance")
    assert parse_tables("all") == TABLES
    with pytest.raises(InputError):
        parse_tables("1,5")
    result = CliRunner().invoke(main, ["reproduce", "--preset", "paper", "--out", "/nonexistent/x"])
    assert result.exit_code == 2 and "--data" in result.output
    assert set(PRESETS) == {"smoke", "cpu", "fmnist", "paper"}


def test_presets_doc_is_in_sync_with_the_code() -> None:
    from runners.presets import presets_markdown

    doc = (Path(__file__).resolve().parents[2] / "docs" / "PRESETS.md").read_text(encoding="utf-8")
    assert presets_markdown() in doc


def test_progress_display_tracks_the_plan_and_nested_tasks() -> None:
    from runners.reproduce import _display, stage_cost

    p = plan(SMOKE, ("3",), 1, Path("/nonexistent-out"))
    total = sum(stage_cost(s) for s in p.stages)
    with _display(True, total, None) as (reporter, bar):  # type: ignore[arg-type]
        progress = bar._progress
        with reporter.task("train something", total=10, unit="step") as task:
            task.advance(4)
            assert [t.completed for t in progress.tasks if t.description == "train something"] == [4]
        assert all(t.description != "train something" for t in progress.tasks)  # finished tasks are removed
        for stage in p.stages:
            bar.advance_plan(stage_cost(stage))
        overall = progress.tasks[0]
        assert overall.completed == pytest.approx(total) and overall.finished
        reporter.log("a message")


def test_released_checkpoints_have_their_run_directories_before_they_are_fetched(tmp_path: Path, monkeypatch) -> None:
    import hashlib

    from benchmark.progress import QuietReporter
    from runners import gd_checkpoint
    from runners.config import ReleasedCheckpoint
    from runners.reproduce import _run_load

    ckdir = tmp_path / "checkpoints"
    ckdir.mkdir()
    for name in ("256x256_diffusion.pt", "256x256_diffusion_uncond.pt", "256x256_classifier.pt"):
        (ckdir / name).write_bytes(name.encode())  # stand-ins for the paper-size weights
    # Their keys and shapes are checked against the flags before a pseudo run is made (tests/runners cover it).
    monkeypatch.setattr(gd_checkpoint, "check_checkpoint_fits", lambda make, checkpoint: None)
    out = tmp_path / "out"
    p = plan(PAPER, ("guidance",), 1, out, dataset="/data/in128", checkpoint_dir=ckdir)
    loads = {s.kind: s for s in p.stages if isinstance(s, LoadStage)}
    assert all(s.status() == "pending" for s in loads.values())
    # The plan names every directory up front: no placeholder, the guided samples name the classifier's run.
    clf_dir = loads[RunKind.GD_CLASSIFIER].run_dir
    guided = [s for s in p.stages if isinstance(s, SampleStage) and s.config.guidance_scale]
    assert guided and all(s.config.classifier_run == str(clf_dir) for s in guided)
    assert "pending" not in str(clf_dir) and clf_dir.parent == out / "runs" and clf_dir.name.startswith("gd-256x256-")
    for stage in p.stages:
        if isinstance(stage, LoadStage):
            _run_load(stage, QuietReporter())
            record = ReleasedCheckpoint.from_dict(json.loads((stage.run_dir / "config.json").read_text()))
            assert record.sha256 == hashlib.sha256(stage.model.filename.encode()).hexdigest()
            assert record.url is not None and record.url.endswith("/" + stage.model.filename)
    again = plan(PAPER, ("guidance",), 1, out, dataset="/data/in128", checkpoint_dir=ckdir)
    assert [s.key for s in again.stages] == [s.key for s in p.stages]
    assert all(s.status() == "done" for s in again.stages if isinstance(s, LoadStage))
    # A checkpoint file replaced after its run directory was made is refused at load, naming the file.
    (ckdir / "256x256_classifier.pt").write_bytes(b"other weights")
    record = ReleasedCheckpoint.from_dict(json.loads((clf_dir / "config.json").read_text()))
    with pytest.raises(InputError, match="changed since its run directory was made") as err:
        gd_checkpoint.load_gd_classifier(record, "cpu")
    assert "256x256_classifier.pt" in str(err.value)


def test_smoke_plan_keeps_the_run_directories_of_earlier_versions() -> None:
    """Run hashes and sample tags name directories on disk: the smoke plan's must stay those recorded (golden/
    smoke_plan.json, written by the code before the run directory got one owner), or earlier runs are not found."""
    golden = json.loads((Path(__file__).parent / "golden" / "smoke_plan.json").read_text(encoding="utf-8"))
    p = plan(SMOKE, TABLES, 1, Path("/nonexistent-out"))
    assert {t.key: t.hash for t in _trains(p)} == golden["runs"]
    assert sorted(s.key for s in p.stages if isinstance(s, SampleStage)) == golden["samples"]
    for t in _trains(p):
        assert t.key == f"train:{t.run_dir.name}" and t.run_dir.name.endswith("-" + config_hash(t.config))
