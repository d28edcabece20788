"""Blocks against straightforward re-derivations: attention, AdaGN / addition ResBlocks, rescaled skips, embedding."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from benchmark.models import AttentionOrder, NormType, UNet
from benchmark.models.layers import AttentionBlock, ResBlock, attend, timestep_embedding


def _attention_loop(qkv: torch.Tensor, heads: int, order: AttentionOrder) -> torch.Tensor:
    """Per-sample, per-head attention in float64 with explicit channel slicing."""
    n, width, length = qkv.shape
    ch = width // (3 * heads)
    out = torch.zeros(n, heads * ch, length, dtype=torch.float64)
    for b in range(n):
        for h in range(heads):
            if order is AttentionOrder.LEGACY:  # [head][q|k|v][ch]
                base = h * 3 * ch
                q, k, v = (qkv[b, base + i * ch : base + (i + 1) * ch].double() for i in range(3))
            else:  # [q|k|v][head][ch]
                q, k, v = (qkv[b, i * heads * ch + h * ch : i * heads * ch + (h + 1) * ch].double() for i in range(3))
            weights = torch.softmax(q.T @ k / math.sqrt(ch), dim=-1)  # [T, S]
            out[b, h * ch : (h + 1) * ch] = v @ weights.T
    return out


@pytest.mark.parametrize("order", list(AttentionOrder))
@pytest.mark.parametrize("impl", ["sdpa", "naive"])
def test_attention_matches_loop(order, impl) -> None:
    torch.manual_seed(0)
    qkv = torch.randn(2, 3 * 4 * 8, 20)
    out = attend(qkv, 4, order, impl)
    torch.testing.assert_close(out.double(), _attention_loop(qkv, 4, order), rtol=1e-5, atol=1e-5)


def test_sdpa_and_naive_models_agree(tiny_config, fill) -> None:
    torch.manual_seed(0)
    x, t, y = torch.randn(2, 3, 16, 16), torch.tensor([5.0, 900.0]), torch.tensor([0, 9])
    outs = []
    for impl in ("sdpa", "naive"):
        model = UNet(tiny_config, attention_impl=impl).eval()
        fill(model, 7)
        with torch.no_grad():
            outs.append(model(x, t, y))
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-5)


def _resblock_reference(block: ResBlock, x: torch.Tensor, emb: torch.Tensor, adagn: bool) -> torch.Tensor:
    """ResBlock written out with functional ops from the paper's description (no up/down, same channels)."""
    sd = {k: v for k, v in block.state_dict().items()}
    h = F.silu(F.group_norm(x, 32, sd["in_layers.0.weight"], sd["in_layers.0.bias"]))
    h = F.conv2d(h, sd["in_layers.2.weight"], sd["in_layers.2.bias"], padding=1)
    e = F.linear(F.silu(emb), sd["emb_layers.1.weight"], sd["emb_layers.1.bias"])[:, :, None, None]
    if adagn:  # GroupNorm(h) (1 + y_s) + y_b
        ys, yb = e[:, : h.shape[1]], e[:, h.shape[1] :]
        h = F.group_norm(h, 32, sd["out_layers.0.weight"], sd["out_layers.0.bias"]) * (1 + ys) + yb
    else:  # GroupNorm(h + emb)
        h = F.group_norm(h + e, 32, sd["out_layers.0.weight"], sd["out_layers.0.bias"])
    h = F.conv2d(F.silu(h), sd["out_layers.3.weight"], sd["out_layers.3.bias"], padding=1)
    return x + h


@pytest.mark.parametrize("norm", list(NormType))
def test_resblock_matches_functional_form(norm, fill) -> None:
    torch.manual_seed(1)
    block = ResBlock(64, 96, 0.0, norm=norm).eval()
    fill(block, 3)
    x, emb = torch.randn(2, 64, 8, 8), torch.randn(2, 96)
    with torch.no_grad():
        expected = _resblock_reference(block, x, emb, norm is NormType.ADAGN)
        torch.testing.assert_close(block(x, emb), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs", [{}, {"out_channels": 32}, {"down": True}, {"up": True}])
def test_rescale_skip_divides_the_block_output_by_sqrt2(kwargs, fill) -> None:
    torch.manual_seed(2)
    plain = ResBlock(64, 96, 0.0, rescale_skip=False, **kwargs).eval()
    scaled = ResBlock(64, 96, 0.0, rescale_skip=True, **kwargs).eval()
    fill(plain, 4)
    scaled.load_state_dict(plain.state_dict())
    x, emb = torch.randn(2, 64, 8, 8), torch.randn(2, 96)
    with torch.no_grad():
        torch.testing.assert_close(scaled(x, emb), plain(x, emb) / math.sqrt(2), rtol=1e-6, atol=1e-6)


def test_rescale_skip_changes_the_whole_network(tiny_config, fill) -> None:
    import dataclasses

    x, t, y = torch.randn(1, 3, 16, 16), torch.tensor([10.0]), torch.tensor([3])
    a = UNet(tiny_config).eval()
    b = UNet(dataclasses.replace(tiny_config, rescale_skip=True)).eval()
    fill(a, 5)
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        assert not torch.allclose(a(x, t, y), b(x, t, y), atol=1e-3)


def test_adagn_and_addition_differ_only_in_embedding_projections(tiny_config) -> None:
    import dataclasses

    ada = UNet(dataclasses.replace(tiny_config, norm=NormType.ADAGN)).state_dict()
    add = UNet(dataclasses.replace(tiny_config, norm=NormType.ADDITION_GROUPNORM)).state_dict()
    assert ada.keys() == add.keys()
    differing = {k for k in ada if ada[k].shape != add[k].shape}
    assert differing and all(".emb_layers.1." in k for k in differing)
    emb_ch = 4 * tiny_config.model_channels
    extra = 0
    for k in differing:
        if k.endswith("weight"):
            out_ch = add[k].shape[0]
            assert ada[k].shape == (2 * out_ch, emb_ch)
            extra += out_ch * (emb_ch + 1)  # scale rows: weight + bias
    assert sum(v.numel() for v in ada.values()) - sum(v.numel() for v in add.values()) == extra


def test_timestep_embedding_closed_form() -> None:
    t = torch.tensor([0.0, 1.0, 250.5])
    emb = timestep_embedding(t, 6)
    freqs = [10000 ** (-i / 3) for i in range(3)]
    expected = torch.tensor([[math.cos(v * f) for f in freqs] + [math.sin(v * f) for f in freqs] for v in t.tolist()])
    torch.testing.assert_close(emb, expected)
    assert timestep_embedding(t, 7).shape == (3, 7) and torch.all(timestep_embedding(t, 7)[:, -1] == 0)


def test_attention_block_heads_from_head_channels() -> None:
    assert AttentionBlock(128, 1, 64, AttentionOrder.LEGACY).num_heads == 2
    assert AttentionBlock(128, 4, None, AttentionOrder.LEGACY).num_heads == 4


@pytest.mark.parametrize("order", list(AttentionOrder))
def test_attention_block_bf16_autocast_close_to_fp32(order, fill) -> None:
    block = AttentionBlock(64, 2, None, order, impl="sdpa")
    naive = AttentionBlock(64, 2, None, order, impl="naive")
    fill(block, 12)
    naive.load_state_dict(block.state_dict())
    x = torch.randn(2, 64, 8, 8)
    with torch.no_grad():
        expected = naive(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = block(x)
    assert out.dtype == torch.float32  # residual add with the float32 input
    assert (out - expected).abs().max() / expected.abs().max() < 0.03


def test_groupnorm_bf16_matches_float32_statistics() -> None:
    from benchmark.models.layers import normalization

    norm = normalization(64)
    x = (torch.randn(2, 64, 8, 8) * 3 + 5).to(torch.bfloat16)
    expected = F.group_norm(x.double(), 32).to(torch.bfloat16)
    torch.testing.assert_close(norm(x), expected, rtol=1e-2, atol=1e-2)
