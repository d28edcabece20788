"""Content-addressed run directories: `<out_root>/runs/<slug>-<hash10>/` holding config, stats, log and artefacts.

hash10 is the first 10 hex digits of the sha256 of the resolved config's canonical JSON (sorted keys, no
whitespace), so re-running a command finds its directory again and any changed setting gets a new one. A run
directory whose `config.json` differs from the command's config is refused, naming the differing keys.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.errors import InputError
from benchmark.io.atomic import write_json_atomic, write_text_atomic
from runners.config import AnyRunConfig, ClassifierRunConfig, run_config_from_dict

CONFIG_NAME = "config.json"
STATS_NAME = "stats.jsonl"
LOG_NAME = "log.txt"


def canonical_json(data: Any) -> str:
    """Sorted-key, whitespace-free JSON: the text that is hashed."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def config_hash(config: AnyRunConfig | dict[str, Any]) -> str:
    """First 10 hex digits of sha256(canonical JSON of the resolved config)."""
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


def slug(config: AnyRunConfig) -> str:
    """Readable prefix of the run directory, e.g. fmnist16-ch16-d2-h1-attn8-updown-cond (lowercase [a-z0-9_-])."""
    t = config.train
    if isinstance(config, ClassifierRunConfig):
        parts = ["clf", _dataset_label(t.dataset, t.resolution), *_net_label(config.classifier), config.classifier.pool.value]
    else:
        parts = [_dataset_label(t.dataset, t.resolution), *_net_label(config.unet)]
        if t.class_cond:
            parts.append("cond")
    text = "-".join(parts).lower()
    return re.sub(r"[^a-z0-9_-]+", "", text)[:80]


def run_dir_for(config: AnyRunConfig, out_root: str | Path) -> Path:
    """`<out_root>/runs/<slug>-<hash10>`."""
    return Path(out_root) / "runs" / f"{slug(config)}-{config_hash(config)}"


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


def read_run_config(run_dir: str | Path) -> AnyRunConfig:
    """The resolved config stored in a run directory."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise InputError(f"not a run directory (no {CONFIG_NAME})", run_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"unreadable run config ({err})", path) from None
    return run_config_from_dict(data, path)


def check_run_dir(run_dir: str | Path, config: AnyRunConfig) -> bool:
    """Whether the run directory already holds `config`'s config.json; refuse one holding another. Writes nothing."""
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_NAME
    if not path.exists():
        return False
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"unreadable run config ({err}); move the directory away to start afresh", path) from None
    if stored != config.to_dict():
        keys = differing_keys(stored, config.to_dict())
        raise InputError(
            f"the run directory holds a different config (differing keys: {', '.join(keys)}); "
            "use another output root or run directory", run_dir,
        )  # fmt: skip
    return True


def prepare_run_dir(run_dir: str | Path, config: AnyRunConfig) -> Path:
    """Create the run directory and write `config.json` first; refuse a directory holding another config.

    Callers validate their inputs first, so that a refused command leaves no run directory behind.
    """
    run_dir = Path(run_dir)
    if not check_run_dir(run_dir, config):
        write_json_atomic(run_dir / CONFIG_NAME, config.to_dict())
    for sub in ("checkpoints", "samples", "metrics"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    return run_dir


# ----------------------------------------------------------------------------------------------------------------
# stats.jsonl and log.txt


def read_stats(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every complete JSON line of stats.jsonl (a torn last line from a killed process is ignored)."""
    path = Path(run_dir) / STATS_NAME
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def rewind_stats(run_dir: str | Path, step: int) -> None:
    """On resume from `step`: drop the lines of steps after it (logged by a run killed before its next
    checkpoint, they are recomputed) and any torn line; rewritten atomically."""
    path = Path(run_dir) / STATS_NAME
    if not path.exists():
        return
    rows = read_stats(run_dir)
    kept = [r for r in rows if int(r.get("step", 0)) <= step]
    text = path.read_text(encoding="utf-8")
    if len(kept) != len(rows) or (text and not text.endswith("\n")) or len(text.splitlines()) != len(rows):
        write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))


def append_stats(run_dir: str | Path, row: dict[str, Any]) -> None:
    """Append one JSON line (a single write of the whole line)."""
    with open(Path(run_dir) / STATS_NAME, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, sort_keys=True) + "\n")
        f.flush()


@dataclass(frozen=True)
class RunLog:
    """Appends timestamped lines to log.txt and forwards them to a reporter (when given)."""

    run_dir: Path
    reporter: Any = None

    def __call__(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.run_dir / LOG_NAME, "a", encoding="utf-8") as f:
            f.write(f"{stamp} {message}\n")
        if self.reporter is not None:
            self.reporter.log(message)


__all__ = [
    "canonical_json",
    "check_run_dir",
    "config_hash",
    "differing_keys",
    "prepare_run_dir",
    "read_run_config",
    "run_dir_for",
    "slug",
    "read_stats",
    "rewind_stats",
    "append_stats",
    "RunLog",
]
