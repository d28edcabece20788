"""Speed options keep the network's function; the perf section's step functions run (no timing here)."""

from __future__ import annotations

import torch

from benchmark.models import UNet
from benchmark.models.speed import SpeedOptions, adamw, autocast, prepare
from benchmark.perf import models as perf_models


def test_reference_options_are_plain() -> None:
    ref = SpeedOptions.reference()
    assert (ref.attention_impl, ref.bf16_autocast, ref.channels_last, ref.compile, ref.fused_optimizer) == (
        "naive", False, False, False, False,
    )  # fmt: skip
    assert SpeedOptions.for_device(torch.device("cpu")).channels_last is False
    assert SpeedOptions.for_device(torch.device("cuda")).channels_last is True


def test_fast_path_matches_plain_path_in_fp32(tiny_config, fill) -> None:
    x, t, y = torch.randn(2, 3, 16, 16), torch.tensor([3, 900]), torch.tensor([0, 5])
    plain = UNet(tiny_config, attention_impl="naive")
    fill(plain, 11)
    fast_opts = SpeedOptions(bf16_autocast=False, channels_last=True)
    fast = UNet(tiny_config, attention_impl=fast_opts.attention_impl)
    fast.load_state_dict(plain.state_dict())
    fast = prepare(fast, fast_opts)
    with torch.no_grad(), autocast(fast_opts, torch.device("cpu")):
        torch.testing.assert_close(fast(x, t, y), plain(x, t, y), rtol=1e-5, atol=1e-5)
    opt = adamw(fast, fast_opts)
    assert opt.defaults["fused"] is True


def test_perf_step_functions_run(tiny_config) -> None:
    cpu = torch.device("cpu")
    for options in (SpeedOptions.reference(), SpeedOptions.for_device(cpu)):
        perf_models._train_step(tiny_config, 2, options, cpu)()
        perf_models._forward(tiny_config, 2, options, cpu)()
    assert {c.config.image_size for c in perf_models._cases(quick=True)} == {32, 128}
