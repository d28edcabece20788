"""Whole networks: shapes, forward/backward, labels, checkpoints, pooling heads, half precision."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmark.errors import InputError
from benchmark.models import (
    ClassifierConfig,
    NoisyClassifier,
    Pooling,
    Precision,
    SuperResUNet,
    UNet,
    UNetConfig,
    load_checkpoint_strict,
    read_state_dict,
)

TINY_CLASSIFIER = ClassifierConfig(
    image_size=16, model_channels=32, channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(8,),
    num_head_channels=32, num_classes=7,
)  # fmt: skip


def test_forward_backward(tiny_config, fill) -> None:
    model = UNet(tiny_config)
    fill(model, 0)
    x, t, y = torch.randn(2, 3, 16, 16), torch.randint(0, 1000, (2,)), torch.tensor([1, 2])
    out = model(x, t, y)
    assert out.shape == (2, 6, 16, 16)
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())


def test_fresh_model_outputs_zero(tiny_config) -> None:
    # The output conv is zero-initialised (reference zero_module), so a fresh network predicts zeros.
    out = UNet(tiny_config)(torch.randn(1, 3, 16, 16), torch.tensor([1]), torch.tensor([0]))
    assert torch.count_nonzero(out) == 0


def test_gradient_checkpointing_gives_the_same_gradients(tiny_config, fill) -> None:
    x, t, y = torch.randn(2, 3, 16, 16), torch.tensor([3, 700]), torch.tensor([4, 5])
    grads = []
    for ckpt in (False, True):
        model = UNet(dataclasses.replace(tiny_config, use_checkpoint=ckpt))
        fill(model, 1)
        model(x, t, y).square().mean().backward()
        grads.append({k: p.grad.clone() for k, p in model.named_parameters()})
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("y", "pattern"),
    [
        (None, "class-conditional"),
        (torch.tensor([0, 10]), r"labels must lie in \[0, 10\), got values in \[0, 10\]"),
        (torch.tensor([-1, 3]), r"got values in \[-1, 3\]"),
        (torch.tensor([0.0, 1.0]), "integer tensor"),
        (torch.tensor([0, 1, 2]), r"shape \(2,\)"),
    ],
)
def test_bad_labels(tiny_config, y, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        UNet(tiny_config)(torch.randn(2, 3, 16, 16), torch.tensor([1, 2]), y)


def test_labels_on_unconditional_model(tiny_config) -> None:
    model = UNet(dataclasses.replace(tiny_config, num_classes=None))
    with pytest.raises(ValueError, match="unconditional"):
        model(torch.randn(1, 3, 16, 16), torch.tensor([1]), torch.tensor([0]))


def test_checkpoint_of_another_configuration_is_one_input_error(tiny_config, tmp_path) -> None:
    model = UNet(tiny_config)
    other = UNet(dataclasses.replace(tiny_config, num_classes=None, learn_sigma=False, model_channels=64))
    with pytest.raises(InputError) as info:
        load_checkpoint_strict(model, other.state_dict(), tmp_path / "other.pt")
    message = str(info.value)
    assert "other.pt" in message and "\n" not in message
    assert "missing keys: label_emb.weight" in message
    assert "mis-shaped keys: time_embed.0.weight (256, 64) vs model (128, 32)" in message
    extra = {**model.state_dict(), "spare.weight": torch.zeros(1)}
    with pytest.raises(InputError, match="1 unexpected keys: spare.weight"):
        load_checkpoint_strict(model, extra)


def test_checkpoint_round_trip(tiny_config, fill, tmp_path) -> None:
    a, b = UNet(tiny_config), UNet(tiny_config)
    fill(a, 2)
    torch.save(a.state_dict(), tmp_path / "m.pt")
    load_checkpoint_strict(b, read_state_dict(tmp_path / "m.pt"))
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read checkpoint"):
        read_state_dict(tmp_path / "junk.pt")
    with pytest.raises(InputError, match="not found"):
        read_state_dict(tmp_path / "missing.pt")


def _feature_size(config: ClassifierConfig) -> int:
    """Channels of every encoder block output plus the middle block (what the spatial heads concatenate)."""
    chans = [int(m * config.model_channels) for m in config.channel_mult]
    total = chans[0]  # stem
    for level, ch in enumerate(chans):
        total += ch * config.num_res_blocks
        if level != len(chans) - 1:
            total += ch  # downsampler
    return total + chans[-1]


@pytest.mark.parametrize("pool", list(Pooling))
def test_classifier_pooling_heads(pool, fill) -> None:
    config = dataclasses.replace(TINY_CLASSIFIER, pool=pool)
    model = NoisyClassifier(config)
    fill(model, 3)
    logits = model(torch.randn(3, 3, 16, 16), torch.tensor([0, 10, 999]))
    assert logits.shape == (3, 7) and torch.isfinite(logits).all()
    sd = model.state_dict()
    if pool in (Pooling.SPATIAL, Pooling.SPATIAL_V2):
        assert sd["out.0.weight"].shape == (2048, _feature_size(config))
    if pool is Pooling.ATTENTION:
        assert sd["out.2.positional_embedding"].shape == (64, 8 * 8 + 1)  # 16 px / 2 = 8 px at the last level


def test_superres_forward(fill) -> None:
    config = UNetConfig(image_size=16, model_channels=32, channel_mult=(1, 2), num_res_blocks=1,
                        attention_resolutions=(8,), num_head_channels=32)  # fmt: skip
    model = SuperResUNet(config)
    assert model.state_dict()["input_blocks.0.0.weight"].shape == (32, 6, 3, 3)
    fill(model, 4)
    out = model(torch.randn(2, 3, 16, 16), torch.tensor([1, 2]), low_res=torch.randn(2, 3, 8, 8))
    assert out.shape == (2, 6, 16, 16)


@pytest.mark.parametrize("precision", [Precision.FP16, Precision.BF16])
def test_half_torso_smoke(tiny_config, fill, precision) -> None:
    ref = UNet(tiny_config).eval()
    fill(ref, 6)
    half = UNet(dataclasses.replace(tiny_config, dtype=precision)).eval()
    half.load_state_dict(ref.state_dict())
    half.convert_to_fp16()
    assert half.input_blocks[0][0].weight.dtype == precision.torch_dtype
    x, t, y = torch.randn(2, 3, 16, 16), torch.tensor([2, 600]), torch.tensor([1, 8])
    with torch.no_grad():
        expected, out = ref(x, t, y), half(x, t, y)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    err = (out - expected).abs().max() / expected.abs().max()
    assert err < (0.01 if precision is Precision.FP16 else 0.05)


def test_bf16_autocast_training_step(tiny_config, fill) -> None:
    model = UNet(tiny_config)
    fill(model, 8)
    x, t, y = torch.randn(2, 3, 16, 16), torch.tensor([2, 600]), torch.tensor([1, 8])
    with torch.no_grad():
        expected = model(x, t, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, t, y)
    assert out.dtype == torch.bfloat16
    assert (out.float() - expected).abs().max() / expected.abs().max() < 0.05
    out.float().square().mean().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())


def test_channels_last_gives_the_same_output(tiny_config, fill) -> None:
    model = UNet(tiny_config).eval()
    fill(model, 9)
    x, t, y = torch.randn(2, 3, 16, 16), torch.tensor([2, 600]), torch.tensor([1, 8])
    with torch.no_grad():
        expected = model(x, t, y)
        model = model.to(memory_format=torch.channels_last)
        out = model(x.to(memory_format=torch.channels_last), t, y)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_unknown_attention_impl(tiny_config) -> None:
    with pytest.raises(ValueError, match="attention_impl"):
        UNet(tiny_config, attention_impl="flash")  # type: ignore[arg-type]
