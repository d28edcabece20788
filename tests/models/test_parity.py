"""Numeric parity with outputs produced by the reference guided-diffusion implementation (tests/data fixtures).

The fixture file holds, per case, the reference constructor arguments, the seed of `fill_deterministic`, the
inputs and the reference output; weights are regenerated here from the seed and the (shared) key layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.models import (
    AttentionOrder,
    ClassifierConfig,
    NoisyClassifier,
    NormType,
    Pooling,
    Precision,
    SuperResUNet,
    UNet,
    UNetConfig,
)

FIXTURES = Path(__file__).parent.parent / "data" / "models_parity.npz"


def _cases() -> dict[str, dict[str, np.ndarray]]:
    data = np.load(FIXTURES)
    cases: dict[str, dict[str, np.ndarray]] = {}
    for key in data.files:
        name, field = key.split("/")
        cases.setdefault(name, {})[field] = data[key]
    return cases


CASES = _cases()


def _pixels(image_size: int, rates: list[int]) -> tuple[int, ...]:
    """Reference attention_resolutions are downsampling rates; ours are feature-map sizes."""
    return tuple(image_size // r for r in rates)


def _build(kw: dict) -> torch.nn.Module:
    common = dict(
        image_size=kw["image_size"], in_channels=kw["in_channels"], model_channels=kw["model_channels"],
        channel_mult=tuple(kw["channel_mult"]), num_res_blocks=kw["num_res_blocks"],
        attention_resolutions=_pixels(kw["image_size"], kw["attention_resolutions"]),
        num_heads=kw.get("num_heads", 1), num_head_channels=kw.get("num_head_channels"),
        resblock_updown=kw.get("resblock_updown", False),
        norm=NormType.ADAGN if kw.get("use_scale_shift_norm") else NormType.ADDITION_GROUPNORM,
        attention_order=AttentionOrder.NEW if kw.get("use_new_attention_order") else AttentionOrder.LEGACY,
        dtype=Precision.FP16 if kw.get("use_fp16") else Precision.FP32,
    )  # fmt: skip
    if kw["kind"] == "clf":
        return NoisyClassifier(ClassifierConfig(num_classes=kw["out_channels"], pool=Pooling(kw["pool"]), **common))
    config = UNetConfig(
        out_channels=kw["out_channels"] // 2 if kw["out_channels"] == 6 else kw["out_channels"],
        learn_sigma=kw["out_channels"] == 6, num_classes=kw.get("num_classes"),
        num_heads_upsample=kw.get("num_heads_upsample"), **common,
    )  # fmt: skip
    return SuperResUNet(config) if kw["kind"] == "sr" else UNet(config)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_reference_output(name: str, fill) -> None:
    case = CASES[name]
    kw = json.loads(str(case["kwargs"]))
    model = _build(kw)
    fill(model, kw["seed"])
    if kw.get("use_fp16"):
        model.convert_to_fp16()
    model.eval()
    args = [torch.from_numpy(case["x"]), torch.from_numpy(case["t"])]
    extra = {}
    if "y" in case:
        extra["y"] = torch.from_numpy(case["y"])
    if "low_res" in case:
        extra["low_res"] = torch.from_numpy(case["low_res"])
    with torch.no_grad():
        out = model(*args, **extra)
    expected = torch.from_numpy(case["out"])
    assert out.dtype == torch.float32 and out.shape == expected.shape
    tol = 2e-2 if kw.get("use_fp16") else 1e-5
    torch.testing.assert_close(out, expected, rtol=tol, atol=tol)


def test_fixture_cases_cover_the_variants() -> None:
    names = set(CASES)
    assert {"unet_adagn_legacy_cond", "unet_addition_neworder", "superres", "unet_fp16"} <= names
    assert {f"classifier_{p.value}" for p in Pooling} <= names
