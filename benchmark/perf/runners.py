"""`admbench perf --section runners`: training and DDIM sampling throughput of the runners (images/s).

Two configs: the smoke config (runners/configs/smoke_baseline.json, Fashion-MNIST 16x16 when available) and
the paper's Table 1 baseline network (128x128, 160 channels, depth 2, 1 head, attention at 16 px,
channel_mult 1,1,2,3,4) on a small synthetic image `.npz` with a small batch, since only a few steps fit on a
CPU. Training rate: steps after a warm-up step, through the real runner (data, loss, AdamW, EMA, logging).
Sampling rate: `runners.sample.sample` end to end, DDIM-25 (DDIM-5 for the baseline with --quick).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmark.diffusion.respacing import Respacing
from benchmark.diffusion.sampling import Sampler
from benchmark.perf.common import PerfRow
from runners.config import SampleConfig, run_config_from_dict
from runners.rundir import RunDir
from runners.sample import sample
from runners.train import train

SECTION = "runners"
SMOKE_CONFIG = Path(__file__).resolve().parents[2] / "runners" / "configs" / "smoke_baseline.json"


def _baseline_config(dataset: Path, batch: int) -> dict:
    return {
        "kind": "diffusion",
        "unet": {
            "image_size": 128, "in_channels": 3, "out_channels": 3, "learn_sigma": True, "model_channels": 160,
            "channel_mult": [1, 1, 2, 3, 4], "num_res_blocks": 2, "attention_resolutions": [16], "num_heads": 1,
            "num_head_channels": None, "resblock_updown": False, "rescale_skip": False, "norm": "adagn",
        },
        "diffusion": {"steps": 1000, "schedule": "linear", "variance_type": "learned_range", "loss_type": "rescaled_mse"},
        "train": {"dataset": str(dataset), "resolution": 128, "channels": 3, "batch_size": batch, "lr": 1e-4,
                  "ema_rates": [0.9999], "milestones": [1000], "log_every": 1, "checkpoint_every": 1000},
    }  # fmt: skip


def _smoke_config(root: Path, batch: int) -> dict:
    data = json.loads(SMOKE_CONFIG.read_text(encoding="utf-8"))
    try:
        from benchmark.data.fashion_mnist import load_split

        load_split("train", allow_download=False)
    except Exception:  # noqa: BLE001 - no local Fashion-MNIST: same shapes from synthetic images
        data["train"]["dataset"] = str(_synthetic(root / "smoke.npz", 16, 256))
    data["train"].update(batch_size=batch, log_every=1, checkpoint_every=1000, milestones=[1000])
    return data


def _synthetic(path: Path, size: int, n: int) -> Path:
    images = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    np.savez(path, images)
    return path


def _measure(name: str, config_dict: dict, root: Path, steps: int, samples: int, respacing: str) -> list[PerfRow]:
    config = run_config_from_dict(config_dict)
    batch = config.train.batch_size
    run_dir = train(config, root / name, stop_after=1)  # warm-up step (data decoding, allocator, first checkpoint)
    train(config, root / name, stop_after=steps)
    last = RunDir(run_dir).read_stats()[-1]
    rows = [PerfRow(SECTION, f"{name}: train images/s (batch {batch}, {steps} steps)", float(last["images_per_s"]),
                    None, "img/s", True, note=f"{torch.get_num_threads()} threads")]  # fmt: skip
    cfg = SampleConfig(num_samples=samples, batch_size=samples, sampler=Sampler.DDIM, respacing=Respacing.parse(respacing))
    start = time.perf_counter()
    sample(run_dir, cfg)
    elapsed = time.perf_counter() - start
    label = respacing.replace("ddim", "DDIM-")
    rows.append(PerfRow(SECTION, f"{name}: {label} sampling images/s ({samples} samples)", samples / elapsed, None,
                        "img/s", True, note="end to end incl. weight loading"))  # fmt: skip
    return rows


def run(quick: bool) -> list[PerfRow]:
    """Training and DDIM sampling throughput of the smoke config and the Table 1 baseline network."""
    with tempfile.TemporaryDirectory(prefix="admbench-perf-runners-") as tmp:
        root = Path(tmp)
        rows = _measure("smoke 16x16", _smoke_config(root, 32), root, 3 if quick else 10, 8 if quick else 32, "ddim25")
        data = _synthetic(root / "base128.npz", 128, 16)
        rows += _measure("Table 1 baseline 128x128", _baseline_config(data, 2 if quick else 4), root,
                         1 if quick else 3, 1 if quick else 2, "ddim5" if quick else "ddim25")  # fmt: skip
    return rows
