"""A guided-diffusion style sampling script runs against benchmark.compat as a program (random-weight checkpoints)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.compat.guided_diffusion.script_util import (
    classifier_defaults,
    create_classifier,
    create_model_and_diffusion,
    model_and_diffusion_defaults,
)

SCRIPT = Path(__file__).with_name("gd_sample_script.py")
REPO = Path(__file__).resolve().parents[2]

# Tiny model flags (the reference's flag names); the classifier only knows the 64..512 channel tables.
SMALL = {"image_size": 16, "channel_mult": "1,2", "num_channels": 32, "num_res_blocks": 1, "attention_resolutions": "8",
         "num_heads": 2, "class_cond": False, "learn_sigma": True, "diffusion_steps": 50}
LARGE = {"image_size": 64, "num_channels": 32, "num_res_blocks": 1, "attention_resolutions": "8", "num_heads": 1,
         "class_cond": True, "learn_sigma": True, "diffusion_steps": 50}
CLASSIFIER = {"image_size": 64, "classifier_width": 32, "classifier_depth": 1, "classifier_attention_resolutions": "8"}


def _save_model(flags: dict[str, object], path: Path, seed: int) -> None:
    torch.manual_seed(seed)
    model, _ = create_model_and_diffusion(**{**model_and_diffusion_defaults(), **flags})
    # The output convolution starts at zero (eps = 0); random weights there make the samples model-dependent.
    with torch.no_grad():
        for p in model.out.parameters():
            p.normal_(0.0, 0.05)
    torch.save(model.state_dict(), path)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpt")
    paths = {"small": root / "small.pt", "large": root / "large.pt", "classifier": root / "classifier.pt"}
    _save_model(SMALL, paths["small"], 0)
    _save_model(LARGE, paths["large"], 1)
    torch.manual_seed(2)
    classifier = create_classifier(**{**classifier_defaults(), **CLASSIFIER})
    torch.save(classifier.state_dict(), paths["classifier"])
    return paths


def _start(out_dir: Path, flags: dict[str, object]) -> subprocess.Popen[str]:
    argv = [sys.executable, str(SCRIPT)]
    for key, value in flags.items():
        argv += [f"--{key}", str(value)]
    env = {**os.environ, "OPENAI_LOGDIR": str(out_dir), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    env.pop("WORLD_SIZE", None)
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str], out_dir: Path) -> tuple[Path, str]:
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    npz = sorted(out_dir.glob("samples_*.npz"))
    assert len(npz) == 1, sorted(p.name for p in out_dir.iterdir())
    return npz[0], (out_dir / "log.txt").read_text()


def _run(out_dir: Path, flags: dict[str, object]) -> tuple[Path, str]:
    return _finish(_start(out_dir, flags), out_dir)


def _load(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    with np.load(path) as z:
        return z["arr_0"], (z["arr_1"] if "arr_1" in z.files else None)


def _sample_in_process(flags: dict[str, object], model_path: Path) -> tuple[np.ndarray, np.ndarray]:
    model_flags = {k: flags[k] if k in flags else v for k, v in model_and_diffusion_defaults().items()}
    model, diffusion = create_model_and_diffusion(**model_flags)
    model.load_state_dict(torch.load(model_path, weights_only=True))
    model.eval()
    n, size = int(flags["batch_size"]), int(flags["image_size"])
    torch.manual_seed(int(flags["seed"]))
    labels = torch.randint(0, 1000, (n,))
    x = diffusion.p_sample_loop(model, (n, 3, size, size), model_kwargs={"y": labels})
    images = ((x + 1) * 127.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return images, labels.numpy()


def test_image_sample_style(tmp_path: Path, checkpoints: dict[str, Path]):
    """Unconditional DDIM (4 of 50 steps): 3 samples in batches of 2 are truncated to 3; no labels are written."""
    flags = {**SMALL, "timestep_respacing": "ddim4", "use_ddim": True, "num_samples": 3, "batch_size": 2,
             "model_path": checkpoints["small"]}
    path, log = _run(tmp_path, flags)
    images, labels = _load(path)
    assert path.name == "samples_3x16x16x3.npz"
    assert images.shape == (3, 16, 16, 3) and images.dtype == np.uint8 and labels is None
    assert images.std() > 0  # not a constant image
    assert "creating model and diffusion..." in log and "sampling complete" in log


def test_classifier_sample_style(tmp_path: Path, checkpoints: dict[str, Path]):
    """Class-conditional DDPM (4 of 50 steps) with classifier guidance through cond_fn: labels are written,
    scale 0 equals unguided sampling, a large scale changes the samples."""
    common = {**LARGE, "timestep_respacing": "4", "num_samples": 2, "batch_size": 2, "seed": 0,
              "model_path": checkpoints["large"], **CLASSIFIER}
    runs = {
        "unguided": common,
        "zero": {**common, "classifier_path": checkpoints["classifier"], "classifier_scale": 0.0},
        "strong": {**common, "classifier_path": checkpoints["classifier"], "classifier_scale": 300.0},
    }
    procs = {name: _start(tmp_path / name, flags) for name, flags in runs.items()}  # concurrently: startup dominates
    (unguided, _), (zero, _), (strong, log) = (_finish(procs[name], tmp_path / name) for name in runs)
    (u_img, u_lab), (z_img, z_lab), (s_img, s_lab) = _load(unguided), _load(zero), _load(strong)
    assert s_img.shape == (2, 64, 64, 3) and s_img.dtype == np.uint8
    assert s_lab is not None and s_lab.shape == (2,) and ((s_lab >= 0) & (s_lab < 1000)).all()
    # Same seed: the labels are drawn identically; a zero gradient leaves every step's mean unchanged.
    np.testing.assert_array_equal(u_lab, z_lab)
    np.testing.assert_array_equal(u_lab, s_lab)
    np.testing.assert_array_equal(u_img, z_img)
    assert np.abs(s_img.astype(int) - u_img.astype(int)).mean() > 1.0
    # The program used the saved weights: the same steps in this process reproduce its unguided archive.
    expected_img, expected_lab = _sample_in_process(common, checkpoints["large"])
    np.testing.assert_array_equal(u_lab, expected_lab)
    assert np.abs(u_img.astype(int) - expected_img.astype(int)).max() <= 1  # uint8 rounding of float noise
    assert "loading classifier..." in log
