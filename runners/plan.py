"""A reproduction plan: every row of the requested tables as stages (reference -> train or load -> sample ->
evaluate), identical runs shared between tables, each stage's done / pending status read from the filesystem.

`plan()` is pure apart from reading the output directory: it builds the configs of every row
(runners.presets), deduplicates them by their content hash (runners.rundir), and lists stages in execution
order. Table cells are `Slot`s pointing at the evaluation stage that fills them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.data.reference_manifest import REFERENCE_DIR, read_manifest
from benchmark.data.registry import FASHION_MNIST, dataset_num_classes
from benchmark.errors import InputError
from benchmark.models.config import UNetConfig
from benchmark.paper import GUIDANCE_ARCH, TABLE1, TABLE2, TABLE3, ArchSetting, guidance_key
from reports.render import MANIFEST_NAME
from runners import checkpointing as ckpt
from runners.config import AnyRunConfig, ClassifierRunConfig, RunKind, SampleConfig
from runners.gd_checkpoint import published_run_dir
from runners.presets import (
    GuidanceSource,
    Preset,
    ReleasedModel,
    classifier_run_config,
    guidance_sample_config,
    preset_to_dict,
    run_config,
    sample_config,
    unet_config,
)
from runners.rundir import RunDir, config_hash, sample_tag

TABLES = ("1", "2", "3", "guidance")
RELEASED_DIR = "released"
DATA_PLACEHOLDER = "<--data DIR>"


# ----------------------------------------------------------------------------------------------------------------
# Stages.


@dataclass(frozen=True)
class ReferenceStage:
    """A reference batch: a committed file, one built from the training set, or a download."""

    key: str
    path: Path
    build_dataset: str | None = None  # open_dataset spec to build from (whole training set statistics)
    url: str | None = None  # download source (no published checksum: sha256 recorded on first download)

    def status(self) -> str:
        return "done" if self.path.is_file() else "pending"


@dataclass(frozen=True)
class TrainStage:
    """Train a diffusion model or a noisy classifier to its last milestone (resumes from the latest checkpoint)."""

    key: str
    config: AnyRunConfig
    run_dir: Path

    @property
    def hash(self) -> str:
        return config_hash(self.config)

    def status(self) -> str:
        run = RunDir(self.run_dir)
        steps = run.state_steps()
        last = self.config.train.milestones[-1]
        if last in steps:  # done once its state and EMA files read back (a torn file is retrained)
            damaged = ckpt.checkpoint_problems(run, last, self.config.train.ema_rates)
            return f"damaged (step {last}/{last})" if damaged else "done"
        return f"partial (step {steps[-1]}/{last})" if steps else "pending"


@dataclass(frozen=True)
class LoadStage:
    """Use a released checkpoint instead of training: download (or find) it and make its run directory.

    The directory is named by the checkpoint's published URL and flags (runners.config.released_identity), so it
    is known when the plan is built; the file's sha256 is recorded in its config.json when it is made.
    """

    key: str
    model: ReleasedModel
    kind: RunKind  # GD_CHECKPOINT (a diffusion model) or GD_CLASSIFIER
    checkpoint_dir: Path
    run_dir: Path

    def status(self) -> str:
        return "done" if RunDir(self.run_dir).exists() else "pending"


@dataclass(frozen=True)
class SampleStage:
    """Draw a sample archive from a run (trained or loaded) at one milestone."""

    key: str
    model: str  # key of the TrainStage / LoadStage
    config: SampleConfig
    classifier: str | None  # key of the classifier's stage (guided sampling)
    run_dir: Path  # the model's run directory

    def sample_dir(self) -> Path:
        return RunDir(self.run_dir).sample_dir(sample_tag(self.config)).path

    def status(self) -> str:
        d = RunDir(self.run_dir).sample_dir(sample_tag(self.config))
        if d.record.is_file():
            return "done"
        shards = d.shards()
        return f"partial ({len(shards)} shards)" if shards else "pending"


@dataclass(frozen=True)
class EvalStage:
    """Evaluate one sample archive against a reference batch into <run>/metrics/<tag>.json."""

    key: str
    sample: str  # key of the SampleStage
    reference: str  # key of the ReferenceStage
    extractor: str
    bootstrap: int
    metrics_path: Path

    def status(self) -> str:
        return "done" if self.metrics_path.is_file() else "pending"


Stage = ReferenceStage | TrainStage | LoadStage | SampleStage | EvalStage


@dataclass(frozen=True)
class Slot:
    """One table cell group: (table, row key, column, seed) filled by an evaluation stage."""

    table: str
    row: str
    column: str  # "m1" / "m2" for Table 1, "fid" for Tables 2 and 3, "all" for the guidance table
    seed: int
    eval_key: str


@dataclass(frozen=True)
class Plan:
    preset: Preset
    tables: tuple[str, ...]
    seeds: int
    out: Path
    dataset: str
    stages: tuple[Stage, ...]
    slots: tuple[Slot, ...]
    shared: dict[str, list[str]] = field(default_factory=dict)  # stage key -> the table rows that use it

    def stage(self, key: str) -> Stage:
        for s in self.stages:
            if s.key == key:
                return s
        raise KeyError(key)

    def counts(self) -> dict[str, int]:
        """Number of stages by kind."""
        out: dict[str, int] = {}
        for s in self.stages:
            kind = type(s).__name__.removesuffix("Stage").lower()
            out[kind] = out.get(kind, 0) + 1
        return out


# ----------------------------------------------------------------------------------------------------------------


def parse_tables(text: str) -> tuple[str, ...]:
    """'1,2,3,guidance' -> ('1', '2', '3', 'guidance') in canonical order; 'all' means every table."""
    if text.strip() == "all":
        return TABLES
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    names = ["guidance" if n in ("4", "g") else n for n in names]
    unknown = [n for n in names if n not in TABLES]
    if unknown or not names:
        raise InputError(f"unknown table(s) {unknown or [text]}; choose from {', '.join(TABLES)}")
    return tuple(t for t in TABLES if t in names)


class _Builder:
    """Collects stages in execution order, merging identical ones (same key) and remembering who uses them."""

    def __init__(self) -> None:
        self.stages: dict[str, Stage] = {}
        self.users: dict[str, list[str]] = {}
        self.slots: list[Slot] = []

    def add(self, stage: Stage, user: str) -> str:
        if stage.key not in self.stages:
            self.stages[stage.key] = stage
        users = self.users.setdefault(stage.key, [])
        if user not in users:
            users.append(user)
        return stage.key


def _repo_root() -> Path:
    return REFERENCE_DIR.parent


def _committed_reference(preset: Preset, dataset: str) -> Path | None:
    """A reference batch of the training set recorded in reference_stats/manifest.json for this resolution and
    extractor: the same channel count first, else another one (the extractors see grayscale as replicated RGB, so
    the statistics are the same)."""
    try:
        files = read_manifest(REFERENCE_DIR)["files"]
    except InputError:
        return None
    found = []
    for name, entry in sorted(files.items()):
        if (entry.get("kind") == "reference-batch" and entry.get("extractor") == preset.evaluation.extractor
                and entry.get("resolution") == preset.resolution and entry.get("dataset") == dataset
                and entry.get("split", "train") == "train" and (REFERENCE_DIR / name).is_file()):  # fmt: skip
            found.append((entry.get("channels") != preset.channels, REFERENCE_DIR / name))
    return min(found)[1] if found else None


def _reference_stage(preset: Preset, out: Path, dataset: str) -> ReferenceStage:
    reference = preset.evaluation.reference
    if reference is not None and dataset == preset.dataset:
        committed = _repo_root() / reference
        if not committed.is_file():
            committed = _committed_reference(preset, dataset) or committed
        if committed.is_file():
            return ReferenceStage(key=f"ref:{committed.name}", path=committed)
        # Not committed (yet): build the same batch into the output directory.
        local = out / "reference" / Path(reference).name
        return ReferenceStage(key=f"ref:{local.name}", path=local, build_dataset=dataset)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "", Path(dataset).name) or "data"
    name = f"{stem}-{preset.resolution}x{preset.resolution}x{preset.channels}-{preset.evaluation.extractor}.npz"
    return ReferenceStage(key=f"ref:{name}", path=out / "reference" / name, build_dataset=dataset)


def _train_stage(config: AnyRunConfig, out: Path) -> TrainStage:
    run_dir = RunDir.for_record(config, out).path
    return TrainStage(key=f"train:{run_dir.name}", config=config, run_dir=run_dir)


def _sample_and_eval(b: _Builder, model: TrainStage | LoadStage, config: SampleConfig, classifier: str | None,
                     ref: ReferenceStage, preset: Preset, user: str) -> str:  # fmt: skip
    run_dir = model.run_dir
    name = run_dir.name
    tag = sample_tag(config)
    sample = SampleStage(key=f"sample:{name}/{tag}", model=model.key, config=config, classifier=classifier,
                         run_dir=run_dir)  # fmt: skip
    b.add(sample, user)
    metrics = RunDir(run_dir).metrics(tag)
    ev = EvalStage(key=f"eval:{name}/{tag}", sample=sample.key, reference=ref.key,
                   extractor=preset.evaluation.extractor, bootstrap=preset.evaluation.bootstrap,
                   metrics_path=metrics)  # fmt: skip
    return b.add(ev, user)


def _num_classes(data: str, preset: Preset) -> int:
    """Classes of the training data; the preset's hint only while the data is not at hand (dry runs: running
    the plan opens the dataset and fails there with a clear message)."""
    if data == DATA_PLACEHOLDER or (not data.startswith(FASHION_MNIST) and not Path(data).expanduser().exists()):
        return preset.num_classes_hint
    return dataset_num_classes(data, preset.resolution)


@dataclass(frozen=True)
class _Row:
    """One table cell group before its run exists: which model, at which step, sampled how."""

    table: str
    row: str
    column: str
    seed: int
    arch: ArchSetting
    conditional: bool
    step: int
    guidance_scale: float | None = None  # guidance table rows only (None = no guidance)


def plan(preset: Preset, tables: tuple[str, ...], seeds: int, out: str | Path, dataset: str | None = None,
         checkpoint_dir: str | Path | None = None) -> Plan:  # fmt: skip
    """Every stage needed for `tables` under `out`, deduplicated, with statuses read from disk.

    Rows that train the same network (architecture, class conditioning, seed) share one run that trains to the
    last step any of them needs; each row samples its own milestone of it. The template's learning-rate
    schedule and EMA do not depend on the last step, so the checkpoint at a step is the same as a run that
    stops there.
    """
    if seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {seeds}")
    out = Path(out).resolve()
    data = dataset or preset.dataset or DATA_PLACEHOLDER
    num_classes = _num_classes(data, preset)
    if num_classes < 1 and (preset.class_cond or "guidance" in tables):
        raise InputError("the dataset has no class labels; the class-conditional rows and the guidance table need them",
                         data)  # fmt: skip
    b = _Builder()
    released = preset.guidance.source is GuidanceSource.RELEASED
    ablation_ref = None
    if any(t in tables for t in ("1", "2", "3")) or ("guidance" in tables and not released):
        ablation_ref = _reference_stage(preset, out, data)

    rows: list[_Row] = []
    for seed in range(seeds):
        if "1" in tables:
            for r in TABLE1:
                rows += [_Row("1", r.key, c, seed, r.arch, preset.class_cond, m)
                         for c, m in (("m1", preset.milestones[0]), ("m2", preset.milestones[1]))]  # fmt: skip
        if "2" in tables:
            rows += [_Row("2", r.key, "fid", seed, r.arch, preset.class_cond, preset.table2_steps) for r in TABLE2]
        if "3" in tables:
            rows += [_Row("3", r.key, "fid", seed, r.arch, preset.class_cond, preset.table3_steps) for r in TABLE3]
        if "guidance" in tables and not released:
            rows += [_Row("guidance", guidance_key(cond, scale), "all", seed, GUIDANCE_ARCH, cond,
                          preset.guidance.model_steps(cond), scale)
                     for cond in (False, True) for scale in (None, *preset.guidance.scales)]  # fmt: skip

    # One run per network (as mapped onto the preset: two of the paper's settings may map onto one), trained to
    # every step its rows need.
    def network(r: _Row) -> tuple[UNetConfig, int]:
        return unet_config(preset, r.arch, num_classes if r.conditional else None), r.seed

    steps: dict[tuple[UNetConfig, int], set[int]] = {}
    first: dict[tuple[UNetConfig, int], _Row] = {}
    for r in rows:
        steps.setdefault(network(r), set()).add(r.step)
        first.setdefault(network(r), r)
    runs = {key: _train_stage(run_config(preset, first[key].arch, data, tuple(sorted(ms)), key[1],
                                         num_classes if first[key].conditional else None), out)
            for key, ms in steps.items()}  # fmt: skip
    classifiers = {}
    if any(r.guidance_scale is not None for r in rows):
        classifiers = {seed: _train_stage(classifier_run_config(preset, data, seed, num_classes), out)
                       for seed in range(seeds)}  # fmt: skip

    if ablation_ref is not None:
        b.add(ablation_ref, "tables")
    for r in rows:
        assert ablation_ref is not None
        user = f"table{r.table}/{r.row}/seed{r.seed}" if r.table != "guidance" else f"guidance/{r.row}/seed{r.seed}"
        train = runs[network(r)]
        b.add(train, user)
        clf_key = None
        if r.table == "guidance":
            clf = classifiers[r.seed] if r.guidance_scale is not None else None
            if clf is not None:
                clf_key = b.add(clf, f"guidance/classifier/seed{r.seed}")
            config = guidance_sample_config(preset, r.seed, r.guidance_scale or 0.0,
                                            None if clf is None else str(clf.run_dir), r.conditional)  # fmt: skip
        else:
            config = sample_config(preset, r.step, r.seed)
        key = _sample_and_eval(b, train, config, clf_key, ablation_ref, preset, user)
        b.slots.append(Slot(r.table, r.row, r.column, r.seed, key))
    if "guidance" in tables and released:
        for seed in range(seeds):
            _released_guidance(b, preset, out, seed, checkpoint_dir)

    stages = _execution_order(list(b.stages.values()))
    return Plan(preset=preset, tables=tables, seeds=seeds, out=out, dataset=data, stages=tuple(stages),
                slots=tuple(b.slots), shared=b.users)  # fmt: skip


def _released_guidance(b: _Builder, preset: Preset, out: Path, seed: int, checkpoint_dir: str | Path | None) -> None:
    """Guidance rows sampled from the paper's released 256x256 checkpoints and evaluated on its reference batch."""
    released = preset.guidance.released
    assert released is not None
    ckdir = Path(checkpoint_dir).resolve() if checkpoint_dir is not None else out / RELEASED_DIR / "checkpoints"
    ref_name = Path(released.reference_url).name
    ref = ReferenceStage(key=f"ref:{ref_name}", path=out / "reference" / ref_name, url=released.reference_url)
    b.add(ref, "guidance")
    loads = {}
    for role, model in (("classifier", released.classifier), ("cond", released.cond), ("uncond", released.uncond)):
        kind = RunKind.GD_CLASSIFIER if role == "classifier" else RunKind.GD_CHECKPOINT
        run_dir = published_run_dir(model.name, model.filename, kind, out).path
        loads[role] = LoadStage(key=f"load:{model.name}", model=model, kind=kind, checkpoint_dir=ckdir, run_dir=run_dir)
        b.add(loads[role], "guidance")
    clf_path = str(loads["classifier"].run_dir)
    for cond in (False, True):
        model = loads["cond" if cond else "uncond"]
        for scale in (None, *preset.guidance.scales):
            config = guidance_sample_config(preset, seed, scale or 0.0, clf_path if scale else None, cond)
            user = f"guidance/{guidance_key(cond, scale)}/seed{seed}"
            key = _sample_and_eval(b, model, config, loads["classifier"].key if scale else None, ref, preset, user)
            b.slots.append(Slot("guidance", guidance_key(cond, scale), "all", seed, key))


def _execution_order(stages: list[Stage]) -> list[Stage]:
    """References and loads first, then each model followed by its samples and their evaluations; a classifier
    trains before the first model whose samples it guides."""
    by_key = {s.key: s for s in stages}
    first = [s for s in stages if isinstance(s, (ReferenceStage, LoadStage))]
    models = [s for s in stages if isinstance(s, TrainStage)]
    classifiers = [s for s in models if isinstance(s.config, ClassifierRunConfig)]
    models = [s for s in models if not isinstance(s.config, ClassifierRunConfig)]
    ordered: list[Stage] = list(first)
    placed = {s.key for s in ordered}
    loads_and_models: list[Stage] = [*[s for s in first if isinstance(s, LoadStage)], *models]
    for model in loads_and_models:
        samples = [s for s in stages if isinstance(s, SampleStage) and s.model == model.key]
        for clf in classifiers:
            if clf.key not in placed and any(s.classifier == clf.key for s in samples):
                ordered.append(clf)
                placed.add(clf.key)
        if model.key not in placed:
            ordered.append(model)
            placed.add(model.key)
        for sample in samples:
            ordered.append(sample)
            placed.add(sample.key)
            for ev in stages:
                if isinstance(ev, EvalStage) and ev.sample == sample.key and ev.key not in placed:
                    ordered.append(ev)
                    placed.add(ev.key)
    ordered += [s for s in stages if s.key not in placed]
    assert len(ordered) == len(by_key)
    return ordered


# ----------------------------------------------------------------------------------------------------------------
# The manifest the report is rendered from.


def manifest(p: Plan) -> dict[str, Any]:
    """JSON-ready description of the plan: preset, tables, seeds and where every table cell's metrics live."""
    slots = []
    for slot in p.slots:
        ev = p.stage(slot.eval_key)
        assert isinstance(ev, EvalStage)
        sample = p.stage(ev.sample)
        assert isinstance(sample, SampleStage)
        model = p.stage(sample.model)
        metrics = _relative(ev.metrics_path, p.out)
        slots.append({
            "table": slot.table, "row": slot.row, "column": slot.column, "seed": slot.seed,
            "metrics": metrics,
            "samples": _relative(sample.sample_dir(), p.out),
            "run": model.key.split(":", 1)[1],
            "run_hash": model.hash if isinstance(model, TrainStage) else None,
            "sample_tag": sample_tag(sample.config),
            "train_steps": sample.config.milestone,
        })  # fmt: skip
    return {
        "format": 1,
        "preset": preset_to_dict(p.preset),
        "tables": list(p.tables),
        "seeds": p.seeds,
        "dataset": p.dataset,
        "milestones": list(p.preset.milestones),
        "evidence_steps": p.preset.evidence_steps,
        "slots": slots,
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


__all__ = ["TABLES", "Plan", "Slot", "Stage", "ReferenceStage", "TrainStage", "LoadStage",
           "SampleStage", "EvalStage", "parse_tables", "plan", "manifest", "MANIFEST_NAME"]  # fmt: skip
