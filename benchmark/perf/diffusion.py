"""Perf section `diffusion`: DDIM-25 sampling throughput and sampler overhead (ours vs a plain fp32 eager loop)."""

from __future__ import annotations

import torch

from benchmark.compat.guided_diffusion.script_util import create_gaussian_diffusion
from benchmark.diffusion import DiffusionConfig, GaussianDiffusion, SampleRNG, ddim_sample_loop
from benchmark.models import UNet
from benchmark.models.config import UNetConfig
from benchmark.perf.common import PerfRow, best_time

SECTION = "diffusion"


def _tiny_unet(image_size: int, attention_impl: str) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = UNetConfig(image_size=image_size, model_channels=64, channel_mult=(1, 2, 2), num_res_blocks=1,
                     attention_resolutions=(image_size // 2,), num_head_channels=32, learn_sigma=True)
    return UNet(cfg, attention_impl=attention_impl).eval()  # type: ignore[arg-type]


def _plain_ddim(diffusion, model, x_T: torch.Tensor) -> torch.Tensor:
    """The baseline: a guided-diffusion-style DDIM loop (eta = 0), fp32, eager, torch.no_grad, float32 lookups."""
    x = x_T
    for i in reversed(range(diffusion.num_timesteps)):
        t = torch.full((x.shape[0],), i, dtype=torch.long, device=x.device)
        with torch.no_grad():
            out = model(x, diffusion.model_timesteps(t))
            eps = out[:, : x.shape[1]]
            ab = torch.tensor(diffusion.alphas_cumprod[i], dtype=torch.float32, device=x.device)
            ab_prev = torch.tensor(diffusion.alphas_cumprod_prev[i], dtype=torch.float32, device=x.device)
            x0 = ((x - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1, 1)
            eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
            x = x0 * ab_prev.sqrt() + (1 - ab_prev).sqrt() * eps
    return x


def run(quick: bool) -> list[PerfRow]:
    """DDIM sampling images/s with the ADM UNet (tiny config) and per-step sampler overhead with a no-op model."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    steps = "ddim10" if quick else "ddim25"
    n_steps = int(steps[4:])
    batch, size = (4, 16) if quick else ((64, 32) if device.type == "cuda" else (8, 32))
    diffusion = GaussianDiffusion.from_config(DiffusionConfig(timestep_respacing=steps))
    rows: list[PerfRow] = []
    shape = (batch, 3, size, size)

    # 1) Throughput: admbench sampler + SDPA attention under inference_mode vs the plain fp32 eager loop.
    ours_model = _tiny_unet(size, "sdpa").to(device)
    base_model = _tiny_unet(size, "naive").to(device)
    base_model.load_state_dict(ours_model.state_dict())

    def ours() -> None:
        rng = SampleRNG.for_samples(0, range(batch), device)
        with torch.inference_mode():
            ddim_sample_loop(diffusion, ours_model, rng.randn(shape), None, eta=0.0)
        if device.type == "cuda":
            torch.cuda.synchronize()

    def baseline() -> None:
        _plain_ddim(diffusion, base_model, torch.randn(shape, device=device))
        if device.type == "cuda":
            torch.cuda.synchronize()

    ours(), baseline()  # warm-up
    repeats = 1 if quick else 3
    t_ours, t_base = best_time(ours, repeats), best_time(baseline, repeats)
    rows.append(PerfRow(SECTION, f"{steps} tiny UNet {size}px batch {batch} ({device.type})", batch / t_ours,
                        batch / t_base, "img/s", True, "plain fp32 eager loop, naive attention",
                        "ours: native DDIM, per-sample RNG, SDPA attention, inference_mode; fp32 both"))

    if device.type == "cuda":
        half_model = _tiny_unet(size, "sdpa").to(device)
        half_model.load_state_dict(ours_model.state_dict())
        half_model.convert_to_fp16()

        def ours_fp16() -> None:
            rng = SampleRNG.for_samples(0, range(batch), device)
            with torch.inference_mode():
                ddim_sample_loop(diffusion, half_model, rng.randn(shape), None, eta=0.0)
            torch.cuda.synchronize()

        ours_fp16()
        t_half = best_time(ours_fp16, repeats)
        rows.append(PerfRow(SECTION, f"{steps} tiny UNet fp16 torso batch {batch} (cuda)", batch / t_half,
                            batch / t_base, "img/s", True, "plain fp32 eager loop, naive attention",
                            "ours: convert_to_fp16 (reference use_fp16) + SDPA"))

    # 2) Sampler overhead per step with a no-op model: native loop vs the guided-diffusion-compatible loop.
    gd = create_gaussian_diffusion(learn_sigma=True, timestep_respacing=steps)
    noop_batch = 16

    def noop(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.cat([0.1 * x, torch.zeros_like(x)], dim=1)

    x_T = torch.randn(noop_batch, 3, size, size, device=device)
    for eta in (0.0, 1.0):
        def native_loop() -> None:
            rng = SampleRNG.for_samples(0, range(noop_batch), device)
            with torch.inference_mode():
                ddim_sample_loop(diffusion, noop, x_T, rng.randn_like, eta=eta)

        def compat_loop() -> None:
            gd.ddim_sample_loop(noop, list(x_T.shape), noise=x_T, device=device, eta=eta)

        native_loop(), compat_loop()
        t_native, t_compat = best_time(native_loop, 3), best_time(compat_loop, 3)
        rows.append(PerfRow(SECTION, f"sampler overhead/step, eta={eta}, batch {noop_batch} ({device.type})",
                            1e3 * t_native / n_steps, 1e3 * t_compat / n_steps, "ms", False,
                            "guided-diffusion-style loop (global RNG)",
                            "no-op model; eta=1 pays one randn per sample per step for per-sample seeding"))
    return rows
