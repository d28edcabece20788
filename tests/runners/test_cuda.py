"""GPU checks of sampling and training (`pytest -m cuda`, part of `make gpu-check`); skipped without a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmark.diffusion.rng import SampleRNG
from benchmark.evaluation.demo import gratings, write_archive
from benchmark.models.unet import UNet
from benchmark.distributed import World
from runners.config import run_config_from_dict
from runners.train import diffusion_setup
from runners.trainloop import TrainStep, seeded_init
from tests.runners.conftest import tiny_run_dict

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
ROOT = Path(__file__).resolve().parents[2]


def _sample(indices: list[int]) -> torch.Tensor:
    from benchmark.diffusion.config import DiffusionConfig
    from benchmark.diffusion.gaussian import GaussianDiffusion
    from benchmark.diffusion.sampling import ddpm_sample_loop
    from benchmark.models.config import UNetConfig

    config = UNetConfig(image_size=8, in_channels=3, out_channels=3, learn_sigma=True, model_channels=32,
                        channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(4,), num_heads=1)  # fmt: skip
    model = seeded_init(0, lambda: UNet(config)).cuda().eval()
    diffusion = GaussianDiffusion.from_config(DiffusionConfig(steps=1000, timestep_respacing="20"))
    rng = SampleRNG.for_samples(3, indices, device=torch.device("cuda"))
    with torch.no_grad():
        return ddpm_sample_loop(diffusion, model, rng.randn((len(indices), 3, 8, 8)), rng.randn_like).cpu()


def test_per_sample_seeded_sampling_is_independent_of_the_batch_size():
    full = _sample(list(range(6)))
    parts = torch.cat([_sample([0, 1, 2, 3]), _sample([4, 5])])
    torch.testing.assert_close(parts, full, rtol=0, atol=1e-5)
    assert not torch.allclose(full[0], full[1])


@pytest.mark.parametrize("compiled", [False, True])
def test_bf16_training_step_with_and_without_compile(tiny_npz, compiled):
    config = run_config_from_dict(tiny_run_dict(tiny_npz, precision="bf16", optimizer="fused", channels_last=True))
    device = torch.device("cuda")
    setup = diffusion_setup(config, device, num_workers=0)
    reference = diffusion_setup(config, device, num_workers=0)
    if compiled:
        setup.model = torch.compile(setup.model)
    step, ref_step = TrainStep(setup, World(rank=0, size=1), device), TrainStep(reference, World(rank=0, size=1), device)
    batch = next(setup.source.batches(0, 1, step.lo, step.hi))
    ref_batch = next(reference.source.batches(0, 1, ref_step.lo, ref_step.hi))
    norm, terms = step(batch)
    ref_norm, ref_terms = ref_step(ref_batch)
    assert torch.isfinite(norm) and all(torch.isfinite(v).all() for v in terms.values())
    torch.testing.assert_close(terms["loss"], ref_terms["loss"], rtol=5e-2, atol=5e-3)


def test_torchrun_evaluation_with_nccl(tmp_path):
    ref = write_archive(tmp_path / "ref.npz", gratings(61, 20, seed=3))
    sample = write_archive(tmp_path / "sample.npz", gratings(47, 28, seed=4, contrast=0.6))
    common = ["evaluate", str(ref), str(sample), "--extractor", "random-cnn-test", "--format", "json", "--quiet",
              "--device", "cuda", "--no-cache"]  # fmt: skip
    one = subprocess.run([sys.executable, "cli.py", *common, "--output", str(tmp_path / "one.json")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=1", "--master_port=29531",
                          "cli.py", *common, "--output", str(tmp_path / "torchrun.json")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)  # fmt: skip (cuda device: NCCL)
    assert run.returncode == 0, run.stderr[-3000:]
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("one.json", "torchrun.json"))
    for key in ("fid", "sfid", "inception_score", "precision", "recall"):
        assert b[key] == pytest.approx(a[key], rel=1e-6), key
