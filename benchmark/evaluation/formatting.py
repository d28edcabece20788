"""Render an evaluation result as text, JSON, CSV or Markdown (the numbers are never recomputed here)."""

from __future__ import annotations

import csv
import io
import json

from benchmark.evaluation.result import METRIC_KEYS

FORMATS = ("text", "json", "csv", "markdown")


def _caveat(result: dict) -> str | None:
    ex = result["extractor"]
    if ex["reference_inception"]:
        return None
    return (
        f"note: features from '{ex['name']}' ({ex['description']}); these are not Inception FID/IS and are not "
        "comparable to published numbers"
    )


def _rows(result: dict) -> list[tuple[str, float]]:
    rows = [(result["metric_names"][k], float(result[k])) for k in METRIC_KEYS]
    # Extra metrics requested with --metrics (a per-class FID mean is absent when no class had 2+ of each).
    return rows + [(result["metric_names"][k], float(result[k])) for k in _extra_keys(result)]


def _extra_keys(result: dict) -> list[str]:
    return [k for k in result.get("extra_metric_keys", []) if result.get(k) is not None]


def render(result: dict, fmt: str) -> str:
    """Format `result` (an `EvalResult.to_dict()`, possibly with run provenance) as `fmt`."""
    if fmt == "json":
        return json.dumps(result, indent=2, sort_keys=True) + "\n"
    ex = result["extractor"]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["metric", "value", "extractor", "weights_sha256", "reference_images", "sample_images"])
        for k in (*METRIC_KEYS, *_extra_keys(result)):
            writer.writerow(
                [k, repr(float(result[k])), ex["name"], ex["weights_sha256"],
                 result["reference"]["num_images"], result["sample"]["num_images"]]
            )
        return buf.getvalue()
    if fmt == "markdown":
        lines = ["| Metric | Value |", "|---|---|"]
        lines += [f"| {name} | {value:.6g} |" for name, value in _rows(result)]
        lines.append("")
        lines.append(
            f"Extractor `{ex['name']}` (weights sha256 `{ex['weights_sha256'][:16]}…`, backend {ex['backend']}); "
            f"reference `{result['reference']['path']}` ({result['reference']['num_images']} images, statistics "
            f"{result['reference']['statistics']}); sample `{result['sample']['path']}` "
            f"({result['sample']['num_images']} images)."
        )
        caveat = _caveat(result)
        if caveat:
            lines += ["", f"> {caveat}"]
        return "\n".join(lines) + "\n"
    if fmt == "text":
        lines = [f"{name}: {value!r}" for name, value in _rows(result)]
        lines.append(
            f"extractor: {ex['name']} (sha256 {ex['weights_sha256']}, backend {ex['backend']}); "
            f"reference: {result['reference']['num_images']} images, sample: {result['sample']['num_images']} images"
        )
        caveat = _caveat(result)
        if caveat:
            lines.append(caveat)
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown format {fmt!r}")
