"""A reproduction plan: every row of the requested tables as stages (reference -> train or load -> sample ->
evaluate), identical runs shared between tables, each stage's done / pending status read from the filesystem.

`plan()` is pure apart from reading the output directory: it builds the configs of every row
(runners.presets), deduplicates them by their content hash (runners.rundir), and lists stages in execution
order. Table cells are `Slot`s pointing at the evaluation stage that fills them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.data.reference_manifest import REFERENCE_DIR
from benchmark.errors import InputError
from reports.published import GUIDANCE_SCALES, guidance_key
from reports.render import MANIFEST_NAME
from runners import checkpointing as ckpt
from runners.config import AnyRunConfig, ClassifierRunConfig, SampleConfig
from runners.presets import (
    GUIDANCE_SETTING,
    TABLE1_SETTINGS,
    TABLE2_SETTINGS,
    TABLE3_SETTINGS,
    Preset,
    ReleasedModel,
    classifier_run_config,
    released_sample_config,
    run_config,
    sample_config,
)
from runners.rundir import config_hash, run_dir_for
from runners.sample import SAMPLE_JSON

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
        steps = ckpt.list_states(self.run_dir)
        last = self.config.train.milestones[-1]
        if last in steps:
            return "done"
        return f"partial (step {steps[-1]}/{last})" if steps else "pending"


@dataclass(frozen=True)
class LoadStage:
    """Use a released checkpoint instead of training: download (or find) it and make a pseudo run directory."""

    key: str
    model: ReleasedModel
    kind: str  # "unet" | "classifier"
    checkpoint_dir: Path
    record: Path  # <out>/released/<name>.json, written once the pseudo run exists: {"run_dir", "sha256", ...}

    def run_dir(self) -> Path | None:
        if not self.record.is_file():
            return None
        try:
            return Path(json.loads(self.record.read_text(encoding="utf-8"))["run_dir"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def status(self) -> str:
        run_dir = self.run_dir()
        return "done" if run_dir is not None and (run_dir / "config.json").is_file() else "pending"


@dataclass(frozen=True)
class SampleStage:
    """Draw a sample archive from a run (trained or loaded) at one milestone."""

    key: str
    model: str  # key of the TrainStage / LoadStage
    config: SampleConfig
    classifier: str | None  # key of the classifier's stage (guided sampling)
    run_dir: Path | None  # None until a LoadStage has run

    def sample_dir(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / "samples" / self.config.tag()

    def status(self) -> str:
        d = self.sample_dir()
        if d is None:
            return "pending"
        if (d / SAMPLE_JSON).is_file():
            return "done"
        shards = list(d.glob("shard-*.npz")) if d.is_dir() else []
        return f"partial ({len(shards)} shards)" if shards else "pending"


@dataclass(frozen=True)
class EvalStage:
    """Evaluate one sample archive against a reference batch into <run>/metrics/<tag>.json."""

    key: str
    sample: str  # key of the SampleStage
    reference: str  # key of the ReferenceStage
    extractor: str
    bootstrap: int
    metrics_path: Path | None

    def status(self) -> str:
        return "done" if self.metrics_path is not None and self.metrics_path.is_file() else "pending"


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
    from benchmark.data.reference_manifest import read_manifest

    try:
        files = read_manifest(REFERENCE_DIR)["files"]
    except InputError:
        return None
    found = []
    for name, entry in sorted(files.items()):
        if (entry.get("kind") == "reference-batch" and entry.get("extractor") == preset.extractor
                and entry.get("resolution") == preset.resolution and entry.get("dataset") == dataset
                and entry.get("split", "train") == "train" and (REFERENCE_DIR / name).is_file()):  # fmt: skip
            found.append((entry.get("channels") != preset.channels, REFERENCE_DIR / name))
    return min(found)[1] if found else None


def _reference_stage(preset: Preset, out: Path, dataset: str) -> ReferenceStage:
    if preset.reference is not None and dataset == preset.dataset:
        committed = _repo_root() / preset.reference
        if not committed.is_file():
            committed = _committed_reference(preset, dataset) or committed
        if committed.is_file():
            return ReferenceStage(key=f"ref:{committed.name}", path=committed)
        # Not committed (yet): build the same batch into the output directory.
        local = out / "reference" / Path(preset.reference).name
        return ReferenceStage(key=f"ref:{local.name}", path=local, build_dataset=dataset)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "", Path(dataset).name) or "data"
    name = f"{stem}-{preset.resolution}x{preset.resolution}x{preset.channels}-{preset.extractor}.npz"
    return ReferenceStage(key=f"ref:{name}", path=out / "reference" / name, build_dataset=dataset)


def _train_stage(config: AnyRunConfig, out: Path) -> TrainStage:
    run_dir = run_dir_for(config, out)
    return TrainStage(key=f"train:{run_dir.name}", config=config, run_dir=run_dir)


def _sample_and_eval(b: _Builder, model: TrainStage | LoadStage, config: SampleConfig, classifier: str | None,
                     ref: ReferenceStage, preset: Preset, user: str) -> str:  # fmt: skip
    run_dir = model.run_dir if isinstance(model, TrainStage) else model.run_dir()
    name = run_dir.name if run_dir is not None else model.key.split(":", 1)[1]
    tag = config.tag()
    sample = SampleStage(key=f"sample:{name}/{tag}", model=model.key, config=config, classifier=classifier,
                         run_dir=run_dir)  # fmt: skip
    b.add(sample, user)
    metrics = None if run_dir is None else run_dir / "metrics" / f"{tag}.json"
    ev = EvalStage(key=f"eval:{name}/{tag}", sample=sample.key, reference=ref.key, extractor=preset.extractor,
                   bootstrap=preset.bootstrap, metrics_path=metrics)  # fmt: skip
    return b.add(ev, user)


def plan(preset: Preset, tables: tuple[str, ...], seeds: int, out: str | Path, dataset: str | None = None,
         checkpoint_dir: str | Path | None = None) -> Plan:  # fmt: skip
    """Every stage needed for `tables` under `out`, deduplicated, with statuses read from disk."""
    if seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {seeds}")
    out = Path(out).resolve()
    data = dataset or preset.dataset
    if data is None:
        data = DATA_PLACEHOLDER
    b = _Builder()
    m1, m2 = preset.milestones
    ablation_ref: ReferenceStage | None = None
    if any(t in tables for t in ("1", "2", "3")) or preset.guidance_source == "train":
        ablation_ref = _reference_stage(preset, out, data)

    for seed in range(seeds):
        if "1" in tables:
            assert ablation_ref is not None
            b.add(ablation_ref, "tables")
            for row, arch in TABLE1_SETTINGS.items():
                train = _train_stage(run_config(preset, arch, data, (m1, m2), seed), out)
                user = f"table1/{row}/seed{seed}"
                b.add(train, user)
                for column, m in (("m1", m1), ("m2", m2)):
                    key = _sample_and_eval(b, train, sample_config(preset, m, seed), None, ablation_ref, preset, user)
                    b.slots.append(Slot("1", row, column, seed, key))
        for table, settings in (("2", TABLE2_SETTINGS), ("3", TABLE3_SETTINGS)):
            if table not in tables:
                continue
            assert ablation_ref is not None
            b.add(ablation_ref, "tables")
            for row, arch in settings.items():
                train = _train_stage(run_config(preset, arch, data, (m1,), seed), out)
                user = f"table{table}/{row}/seed{seed}"
                b.add(train, user)
                key = _sample_and_eval(b, train, sample_config(preset, m1, seed), None, ablation_ref, preset, user)
                b.slots.append(Slot(table, row, "fid", seed, key))
        if "guidance" in tables:
            _guidance(b, preset, out, data, seed, ablation_ref, checkpoint_dir)

    stages = _execution_order(list(b.stages.values()))
    return Plan(preset=preset, tables=tables, seeds=seeds, out=out, dataset=data, stages=tuple(stages),
                slots=tuple(b.slots), shared=b.users)  # fmt: skip


def _guidance(b: _Builder, preset: Preset, out: Path, data: str, seed: int, ablation_ref: ReferenceStage | None,
              checkpoint_dir: str | Path | None) -> None:  # fmt: skip
    scales: tuple[float | None, ...] = (None, *preset.guidance_scales)
    if preset.guidance_source == "released":
        assert preset.released_unet_cond and preset.released_unet_uncond and preset.released_classifier
        assert preset.released_reference_url
        ckdir = Path(checkpoint_dir).resolve() if checkpoint_dir is not None else out / RELEASED_DIR / "checkpoints"
        ref_name = Path(preset.released_reference_url).name
        ref = ReferenceStage(key=f"ref:{ref_name}", path=out / "reference" / ref_name, url=preset.released_reference_url)
        b.add(ref, "guidance")
        loads = {}
        for kind, model in (("classifier", preset.released_classifier), ("cond", preset.released_unet_cond),
                            ("uncond", preset.released_unet_uncond)):  # fmt: skip
            stage = LoadStage(key=f"load:{model.name}", model=model, kind="classifier" if kind == "classifier" else "unet",
                              checkpoint_dir=ckdir, record=out / RELEASED_DIR / f"{model.name}.json")  # fmt: skip
            loads[kind] = stage
            b.add(stage, "guidance")
        clf_dir = loads["classifier"].run_dir()
        clf_path = str(clf_dir) if clf_dir is not None else f"{out / RELEASED_DIR}/pending-{preset.released_classifier.name}"
        for cond in (False, True):
            model = loads["cond" if cond else "uncond"]
            for scale in scales:
                config = released_sample_config(preset, seed, scale or 0.0, clf_path if scale else None)
                user = f"guidance/{guidance_key(cond, scale)}/seed{seed}"
                key = _sample_and_eval(b, model, config, loads["classifier"].key if scale else None, ref, preset, user)
                b.slots.append(Slot("guidance", guidance_key(cond, scale), "all", seed, key))
        return
    assert ablation_ref is not None
    ref = ablation_ref
    b.add(ref, "guidance")
    classifier = _train_stage(classifier_run_config(preset, data, seed), out)
    b.add(classifier, f"guidance/classifier/seed{seed}")
    m = preset.guidance_milestone
    for cond in (False, True):
        train = _train_stage(run_config(preset, GUIDANCE_SETTING, data, (m,), seed, class_cond=cond), out)
        for scale in scales:
            user = f"guidance/{guidance_key(cond, scale)}/seed{seed}"
            b.add(train, user)
            config = sample_config(preset, m, seed, guidance=True, scale=scale or 0.0,
                                   classifier_run=str(classifier.run_dir) if scale else None)  # fmt: skip
            key = _sample_and_eval(b, train, config, classifier.key if scale else None, ref, preset, user)
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
    from runners.presets import preset_to_dict

    slots = []
    for slot in p.slots:
        ev = p.stage(slot.eval_key)
        assert isinstance(ev, EvalStage)
        sample = p.stage(ev.sample)
        assert isinstance(sample, SampleStage)
        model = p.stage(sample.model)
        metrics = None if ev.metrics_path is None else _relative(ev.metrics_path, p.out)
        sample_dir = sample.sample_dir()
        slots.append({
            "table": slot.table, "row": slot.row, "column": slot.column, "seed": slot.seed,
            "metrics": metrics,
            "samples": None if sample_dir is None else _relative(sample_dir, p.out),
            "run": model.key.split(":", 1)[1],
            "run_hash": model.hash if isinstance(model, TrainStage) else None,
            "sample_tag": sample.config.tag(),
        })  # fmt: skip
    return {
        "format": 1,
        "preset": preset_to_dict(p.preset),
        "tables": list(p.tables),
        "seeds": p.seeds,
        "dataset": p.dataset,
        "milestones": list(p.preset.milestones),
        "slots": slots,
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


__all__ = ["TABLES", "GUIDANCE_SCALES", "Plan", "Slot", "Stage", "ReferenceStage", "TrainStage", "LoadStage",
           "SampleStage", "EvalStage", "parse_tables", "plan", "manifest", "MANIFEST_NAME"]  # fmt: skip
