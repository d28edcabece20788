"""The run directory: `<out_root>/runs/<slug>-<hash10>/`, its layout, and its config read once and verified.

`RunDir` is the one owner of every path inside a run directory:

    config.json                                the run's record (runners.config), written first
    stats.jsonl, log.txt                       training statistics (one JSON line per logged step), messages
    train.lock                                 held by the one training process (runners.runlock)
    checkpoints/state-<step:07d>.pt            resumable training state (runners.checkpointing)
    checkpoints/ema-<rate>-<step:07d>.safetensors   EMA weights for sampling
    samples/<tag>/                             one sample archive (`SampleDir`, tag from `sample_tag`):
        samples_<N>x<H>x<W>x<C>.npz, sample.json, shard-<start:07d>-<stop:07d>.npz while sampling
    samples/<tag>.lock                         held by the one sampler of that archive
    metrics/<tag>.json                         the evaluation of samples/<tag>/

hash10 is the first 10 hex digits of the sha256 of the record's canonical JSON (sorted keys, no whitespace; for a
released checkpoint, of its identity), so re-running a command finds its directory again and any changed setting
gets a new one. A run directory whose `config.json` differs from the command's config is refused, naming the
differing keys.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.diffusion.sampling import Sampler
from benchmark.errors import InputError
from benchmark.io.json_input import read_json, read_json_object
from benchmark.io.atomic import write_json_atomic, write_text_atomic
from benchmark.models.config import Precision
from runners.config import (
    ClassifierRunConfig,
    ReleasedCheckpoint,
    RunKind,
    RunRecord,
    SampleConfig,
    released_identity,
    run_record_from_dict,
)

RUNS_DIR = "runs"
CONFIG_NAME = "config.json"
STATS_NAME = "stats.jsonl"
LOG_NAME = "log.txt"
TRAIN_LOCK = "train.lock"
SAMPLE_JSON = "sample.json"
ARCHIVE_GLOB = "samples_*.npz"

_STATE_RE = re.compile(r"^state-(\d{7,})\.pt$")
_EMA_RE = re.compile(r"^ema-([0-9.e-]+)-(\d{7,})\.safetensors$")


def canonical_json(data: Any) -> str:
    """Sorted-key, whitespace-free JSON: the text that is hashed."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def config_hash(config: RunRecord | dict[str, Any]) -> str:
    """First 10 hex digits of sha256(canonical JSON of the resolved config; a released checkpoint's identity)."""
    if isinstance(config, ReleasedCheckpoint):
        data = config.identity()
    else:
        data = config if isinstance(config, dict) else config.to_dict()
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()[:10]


def _dataset_label(spec: str, resolution: int) -> str:
    if spec == "fashion-mnist" or spec.startswith("fashion-mnist:"):
        base = "fmnist" + ("" if spec.partition(":")[2] in ("", "train") else spec.partition(":")[2])
    else:
        base = Path(spec).stem or "data"
    return f"{base}{resolution}"


def _net_label(cfg: Any) -> list[str]:
    heads = f"hc{cfg.num_head_channels}" if cfg.num_head_channels is not None else f"h{cfg.num_heads}"
    attn = "attn" + "_".join(str(r) for r in cfg.attention_resolutions) if cfg.attention_resolutions else "noattn"
    parts = [f"ch{cfg.model_channels}", f"d{cfg.num_res_blocks}", heads, attn]
    if cfg.resblock_updown:
        parts.append("updown")
    if cfg.rescale_skip:
        parts.append("rescale")
    if cfg.norm.value != "adagn":
        parts.append("addnorm")
    return parts


def _released_slug(name: str) -> str:
    return "gd-" + "".join(c if c.isalnum() else "-" for c in Path(name).stem.lower())[:40]


def slug(config: RunRecord) -> str:
    """Readable prefix of the run directory, e.g. fmnist16-ch16-d2-h1-attn8-updown-cond (lowercase [a-z0-9_-]);
    gd-<file stem> for a released checkpoint."""
    if isinstance(config, ReleasedCheckpoint):
        return _released_slug(config.name)
    t = config.train
    if isinstance(config, ClassifierRunConfig):
        parts = ["clf", _dataset_label(t.dataset, t.resolution), *_net_label(config.classifier), config.classifier.pool.value]
    else:
        parts = [_dataset_label(t.dataset, t.resolution), *_net_label(config.unet)]
        if t.class_cond:
            parts.append("cond")
    text = "-".join(parts).lower()
    return re.sub(r"[^a-z0-9_-]+", "", text)[:80]


def _num(x: float) -> str:
    """Compact, filesystem-safe number: 0.0 -> '0', 1.5 -> '1.5', 0.9999 -> '0.9999'."""
    return f"{x:g}" if float(x) != int(x) else str(int(x))


def rate_label(rate: float) -> str:
    """EMA rate as written in file names and checkpoint keys (repr of the float: 0.9999)."""
    return repr(float(rate))


def sample_tag(config: SampleConfig) -> str:
    """The name of samples/<tag>/: readable, unique, filesystem-safe, e.g. step0000400-ema0.9999-ddim-ddim25-eta0-g0-seed0-n500.

    Everything that changes the samples is in it (batch_size is not: it does not change them). A milestone of
    None reads "latest" (the runner resolves it to a step first); a classifier run adds its directory's hash.
    Numbers use %g formatting.
    """
    step = "latest" if config.milestone is None else f"step{config.milestone:07d}"
    weights = "model" if not config.use_ema else ("ema" if config.ema_rate is None else f"ema{_num(config.ema_rate)}")
    steps = str(config.respacing).replace(",", "_") or "all"
    parts = [step, weights, f"{config.sampler.value}-{steps}"]
    if config.sampler is Sampler.DDIM:
        parts.append(f"eta{_num(config.eta)}")
    parts.append(f"g{_num(config.guidance_scale)}")
    if config.classifier_run:
        parts.append("clf" + re.sub(r"[^a-z0-9]", "", RunDir(Path(config.classifier_run)).hash.lower())[:10])
    if not config.clip_denoised:
        parts.append("noclip")
    if config.precision is not Precision.FP32:
        parts.append(config.precision.value)
    parts += [f"seed{config.seed}", f"n{config.num_samples}"]
    return "-".join(parts)


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


def differing_keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ (or exist on one side only) between two nested dicts."""
    fa, fb = _flatten(a), _flatten(b)
    return sorted(k for k in set(fa) | set(fb) if fa.get(k, object()) != fb.get(k, object()))


# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleDir:
    """`<run>/samples/<tag>/`: one sample archive, its record and, while sampling, its shards."""

    path: Path

    @property
    def tag(self) -> str:
        return self.path.name

    @property
    def record(self) -> Path:
        """sample.json, written last: the archive is finished when it exists."""
        return self.path / SAMPLE_JSON

    @property
    def lock(self) -> Path:
        """samples/<tag>.lock (beside the folder, so that removing the folder leaves the lock alone)."""
        return self.path.parent / f"{self.tag}.lock"

    def shard(self, r: range) -> Path:
        return self.path / f"shard-{r.start:07d}-{r.stop:07d}.npz"

    def shards(self) -> list[Path]:
        """Shard files present (of any shard size)."""
        return sorted(self.path.glob("shard-*.npz")) if self.path.is_dir() else []

    def archive(self, n: int, h: int, w: int, c: int) -> Path:
        return self.path / f"samples_{n}x{h}x{w}x{c}.npz"

    def archives(self) -> list[Path]:
        return sorted(self.path.glob(ARCHIVE_GLOB))


@dataclass(frozen=True)
class RunDir:
    """A run directory: every path inside it, and its config (read once, on first use, and verified)."""

    path: Path

    @classmethod
    def for_record(cls, config: RunRecord, out_root: str | Path) -> RunDir:
        """The content-addressed directory of `config`: `<out_root>/runs/<slug>-<hash10>`."""
        return cls(Path(out_root) / RUNS_DIR / f"{slug(config)}-{config_hash(config)}")

    @classmethod
    def for_published(cls, kind: RunKind, filename: str, url: str, flags: Mapping[str, Any],
                      out_root: str | Path) -> RunDir:  # fmt: skip
        """The directory a published checkpoint's run has, known before its file is fetched (`released_identity`)."""
        digest = config_hash(released_identity(kind, flags, sha256=None, url=url))
        return cls(Path(out_root) / RUNS_DIR / f"{_released_slug(filename)}-{digest}")

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def hash(self) -> str:
        """The hash10 the directory is named by (the whole name of a directory given by hand without one)."""
        return self.name.rsplit("-", 1)[-1]

    # Files of the run.

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def stats_path(self) -> Path:
        return self.path / STATS_NAME

    @property
    def log_path(self) -> Path:
        return self.path / LOG_NAME

    @property
    def train_lock(self) -> Path:
        return self.path / TRAIN_LOCK

    # Checkpoints.

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def state(self, step: int) -> Path:
        return self.checkpoints / f"state-{step:07d}.pt"

    def ema(self, rate: float, step: int) -> Path:
        return self.checkpoints / f"ema-{rate_label(rate)}-{step:07d}.safetensors"

    def state_steps(self) -> list[int]:
        """Steps of the state checkpoints present, ascending."""
        d = self.checkpoints
        if not d.is_dir():
            return []
        return sorted(int(m.group(1)) for p in d.iterdir() if (m := _STATE_RE.match(p.name)))

    def ema_steps(self) -> dict[float, list[int]]:
        """EMA weight files present: rate -> ascending steps."""
        out: dict[float, list[int]] = {}
        if self.checkpoints.is_dir():
            for p in self.checkpoints.iterdir():
                if m := _EMA_RE.match(p.name):
                    out.setdefault(float(m.group(1)), []).append(int(m.group(2)))
        return {k: sorted(v) for k, v in out.items()}

    # Samples and their evaluations.

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    def sample_dir(self, tag: str) -> SampleDir:
        return SampleDir(self.samples / tag)

    def finished_archives(self) -> list[Path]:
        """Every samples/<tag>/samples_*.npz present."""
        return sorted(self.samples.glob(f"*/{ARCHIVE_GLOB}"))

    @property
    def metrics_dir(self) -> Path:
        return self.path / "metrics"

    def metrics(self, tag: str) -> Path:
        return self.metrics_dir / f"{tag}.json"

    # The config.

    def exists(self) -> bool:
        """Whether the directory holds a config.json (it is written first)."""
        return self.config_path.is_file()

    @functools.cached_property
    def config(self) -> RunRecord:
        """The record in config.json, parsed and validated (read once per RunDir); InputError naming the file."""
        if not self.config_path.is_file():
            raise InputError(f"not a run directory (no {CONFIG_NAME})", self.path)
        return run_record_from_dict(read_json_object(self.config_path, "run config"), self.config_path)

    def holds(self, config: RunRecord) -> bool:
        """Whether the directory already holds `config`'s config.json; refuse one holding another. Writes nothing."""
        path = self.config_path
        if not path.exists():
            return False
        try:
            stored = read_json(path, "run config")
        except InputError as err:
            raise InputError(f"{err.message}; move the directory away to start afresh", path) from None
        if stored != config.to_dict():
            keys = differing_keys(stored, config.to_dict())
            raise InputError(
                f"the run directory holds a different config (differing keys: {', '.join(keys)}); "
                "use another output root or run directory", self.path,
            )  # fmt: skip
        return True

    def create(self, config: RunRecord) -> RunDir:
        """Create the directory and write `config.json` first; refuse a directory holding another config.

        Callers validate their inputs first, so that a refused command leaves no run directory behind.
        """
        if not self.holds(config):
            write_json_atomic(self.config_path, config.to_dict())
        for sub in (self.checkpoints, self.samples, self.metrics_dir):
            sub.mkdir(parents=True, exist_ok=True)
        return self

    # stats.jsonl and log.txt.

    def read_stats(self) -> list[dict[str, Any]]:
        """Every complete JSON line of stats.jsonl (a torn last line from a killed process is ignored)."""
        if not self.stats_path.exists():
            return []
        rows = []
        for line in self.stats_path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return rows

    def rewind_stats(self, step: int) -> None:
        """On resume from `step`: drop the lines of steps after it (logged by a run killed before its next
        checkpoint, they are recomputed) and any torn line; rewritten atomically."""
        path = self.stats_path
        if not path.exists():
            return
        rows = self.read_stats()
        kept = [r for r in rows if int(r.get("step", 0)) <= step]
        text = path.read_text(encoding="utf-8")
        if len(kept) != len(rows) or (text and not text.endswith("\n")) or len(text.splitlines()) != len(rows):
            write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))

    def append_stats(self, row: dict[str, Any]) -> None:
        """Append one JSON line (a single write of the whole line)."""
        with open(self.stats_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
            f.flush()


def as_run_dir(run: RunDir | str | Path) -> RunDir:
    """`run` as a RunDir (an opened one is kept, with the config it has read)."""
    return run if isinstance(run, RunDir) else RunDir(Path(run))


@dataclass(frozen=True)
class RunLog:
    """Appends timestamped lines to a run's log.txt and forwards them to a reporter (when given)."""

    path: Path
    reporter: Any = None

    def __call__(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{stamp} {message}\n")
        if self.reporter is not None:
            self.reporter.log(message)


__all__ = [
    "ARCHIVE_GLOB",
    "CONFIG_NAME",
    "RUNS_DIR",
    "SAMPLE_JSON",
    "RunDir",
    "RunLog",
    "SampleDir",
    "as_run_dir",
    "canonical_json",
    "config_hash",
    "differing_keys",
    "rate_label",
    "sample_tag",
    "slug",
]
