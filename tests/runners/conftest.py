"""Tiny configs and datasets for the runner tests (8x8 images, a few steps, one thread)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "runners" / "configs" / "smoke_baseline.json"
NUM_CLASSES = 4


@pytest.fixture()
def one_thread():
    """One intra-op thread: fast on a shared 2-core machine and the same arithmetic in every process (the runner
    tests opt in with `pytestmark`)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory) -> Path:
    """48 random 8x8 RGB images with labels i % 4, as an image `.npz`."""
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (48, 8, 8, 3), dtype=np.uint8)
    np.savez(path, images, np.arange(48) % NUM_CLASSES)
    return path


def tiny_run_dict(dataset: Path, class_cond: bool = False, **train: Any) -> dict[str, Any]:
    """The smoke config shrunk to 8x8 images and a 2-level net; train overrides on top."""
    data = json.loads(SMOKE.read_text(encoding="utf-8"))
    data["unet"].update(image_size=8, channel_mult=[1, 2], attention_resolutions=[4],
                        num_classes=NUM_CLASSES if class_cond else None)  # fmt: skip
    data["train"].update(dataset=str(dataset), resolution=8, batch_size=8, milestones=[4], checkpoint_every=2,
                         log_every=1, class_cond=class_cond, ema_rates=[0.9, 0.99])  # fmt: skip
    data["train"].update(train)
    return copy.deepcopy(data)


def tiny_classifier_dict(dataset: Path, **train: Any) -> dict[str, Any]:
    return {
        "kind": "classifier",
        "classifier": {"image_size": 8, "in_channels": 3, "num_classes": NUM_CLASSES, "model_channels": 32,
                       "channel_mult": [1, 2], "num_res_blocks": 1, "attention_resolutions": [4], "num_heads": 1,
                       "num_head_channels": 32, "pool": "attention"},
        "diffusion": {"steps": 1000, "schedule": "linear"},
        "train": {"dataset": str(dataset), "resolution": 8, "channels": 3, "class_cond": True, "batch_size": 8,
                  "lr": 3e-4, "weight_decay": 0.05, "milestones": [2], "checkpoint_every": 1, "log_every": 1, **train},
    }  # fmt: skip


def load_state(run_dir: Path, step: int) -> dict[str, Any]:
    return torch.load(run_dir / "checkpoints" / f"state-{step:07d}.pt", map_location="cpu", weights_only=True)


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
