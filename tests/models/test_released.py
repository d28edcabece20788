"""Every released checkpoint's configuration builds a network with the reference's exact state_dict layout.

The key/shape tables in tests/data/released_state_dict_keys were dumped from the reference implementation's
own construction code, independently of this package.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmark.compat.guided_diffusion.script_util import create_released, released_models

TABLES = Path(__file__).parent.parent / "data" / "released_state_dict_keys"

# Paper Tables 11-13 parameter counts, in millions.
PAPER_PARAMS_M = {
    "64x64_diffusion": 296, "128x128_diffusion": 422, "256x256_diffusion": 554, "512x512_diffusion": 559,
    "lsun_bedroom": 552, "lsun_cat": 552, "lsun_horse": 552, "64_256_upsampler": 312, "128_512_upsampler": 309,
    "64x64_classifier": 65, "128x128_classifier": 43, "256x256_classifier": 54, "512x512_classifier": 54,
}  # fmt: skip


def _table(name: str) -> list[tuple[str, tuple[int, ...]]]:
    data = json.loads((TABLES / f"{name}.json").read_text())
    return [(k, tuple(shape)) for k, shape in data["keys"]]


def test_every_released_model_has_a_table() -> None:
    assert sorted(p.stem for p in TABLES.glob("*.json")) == sorted(released_models())
    assert len(released_models()) == 15


@pytest.mark.parametrize("name", sorted(released_models()))
def test_state_dict_layout_matches_reference(name: str) -> None:
    with torch.device("meta"):
        model = create_released(name)
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    ref = _table(name)
    assert dict(ours) == dict(ref)  # same keys and shapes (what strict loading needs)
    assert ours == ref  # and the same registration order
    if name in PAPER_PARAMS_M:
        millions = sum(v.numel() for v in model.state_dict().values()) / 1e6
        assert abs(millions - PAPER_PARAMS_M[name]) < 1.0


def test_released_flags_match_readme_facts() -> None:
    models = released_models()
    assert models["512x512_diffusion"]["flags"]["use_fp16"] is False
    assert models["64x64_diffusion"]["flags"]["use_new_attention_order"] is True
    assert models["128x128_diffusion"]["flags"]["num_heads"] == 4
    assert models["128x128_diffusion"]["flags"]["num_head_channels"] == -1
    assert models["128_512_upsampler"]["flags"]["attention_resolutions"] == "32,16"
    assert models["64x64_classifier"]["flags"]["classifier_depth"] == 4
    for name, entry in models.items():
        assert entry["url"].endswith(f"/{name}.pt")
