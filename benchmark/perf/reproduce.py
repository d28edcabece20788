"""Perf section `reproduce`: wall time of the smoke preset (all four tables, end to end) in a temporary directory.

Skipped with --quick (it trains 17 small models). The target is at most 10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import torch

from benchmark.perf.common import PerfRow
from benchmark.progress import QuietReporter
from runners.plan import TABLES, EvalStage, SampleStage, TrainStage
from runners.presets import SMOKE
from runners.reproduce import ReproduceOptions, reproduce

SECTION = "reproduce"
TARGET_SECONDS = 600.0


def run(quick: bool) -> list[PerfRow]:
    """Time `admbench reproduce --preset smoke` (tables 1, 2, 3, guidance) from an empty output directory."""
    if quick:
        return [PerfRow(SECTION, "smoke preset end to end (skipped with --quick)", 0.0, None, "s", False,
                        note="run `admbench perf --section reproduce` to time the 17 trainings")]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="admbench-perf-reproduce-") as tmp:
        started = time.perf_counter()
        summary = reproduce(SMOKE, TABLES, 1, Path(tmp) / "out", ReproduceOptions(device="cpu", num_workers=0),
                            reporter=QuietReporter())  # fmt: skip
        wall = time.perf_counter() - started
    plan = summary["plan"]
    kinds = {TrainStage: "train", SampleStage: "sample", EvalStage: "evaluate"}
    per_kind: dict[str, float] = {}
    counts: dict[str, int] = {}
    for stage in plan.stages:
        kind = kinds.get(type(stage))
        if kind is not None and stage.key in summary["timings"]:
            per_kind[kind] = per_kind.get(kind, 0.0) + summary["timings"][stage.key]
            counts[kind] = counts.get(kind, 0) + 1
    env = f"{os.cpu_count()} CPUs visible, torch threads {torch.get_num_threads()}"
    rows = [PerfRow(SECTION, "smoke preset: tables 1, 2, 3, guidance end to end (wall)", wall, TARGET_SECONDS, "s",
                    False, baseline_name="10-minute target", note=env)]  # fmt: skip
    for kind in ("train", "sample", "evaluate"):
        if kind in per_kind:
            rows.append(PerfRow(SECTION, f"smoke preset: {counts[kind]} {kind} stages (sum)", per_kind[kind], None, "s",
                                False, note=f"{per_kind[kind] / counts[kind]:.1f} s per stage"))  # fmt: skip
    return rows
