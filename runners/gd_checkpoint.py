"""Released guided-diffusion checkpoints as sampling sources, through the compatibility layer (benchmark.compat).

Flags are given as in the reference README (`"--image_size 256 --class_cond True ..."`) or as a JSON object
(inline or a file); missing flags take the reference script defaults (benchmark.compat.script_util).
A checkpoint becomes a pseudo run directory `<out_root>/runs/gd-<name>-<hash10>/` whose config.json records the
flags and the checkpoint's sha256 (kind "gd-checkpoint" or "gd-classifier"), so samples and metrics live in
the same layout as those of trained runs.
"""

from __future__ import annotations

import inspect
import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmark.compat import gd_models, script_util
from benchmark.diffusion.config import DiffusionConfig, LossType, MeanType, Schedule, VarianceType
from benchmark.errors import InputError
from benchmark.io.atomic import sha256_file
from benchmark.models.checkpoint import load_checkpoint_strict, read_state_dict
from benchmark.models.classifier import NoisyClassifier
from benchmark.models.config import ClassifierConfig, Precision, UNetConfig
from benchmark.models.unet import UNet
from runners.rundir import config_hash, prepare_run_dir

def model_flag_defaults() -> dict[str, Any]:
    """create_model + create_gaussian_diffusion flags with the reference script defaults (respacing excluded)."""
    flags = script_util.model_and_diffusion_defaults()
    flags.pop("timestep_respacing")
    flags["sigma_small"] = False  # create_gaussian_diffusion's own default
    return flags


def classifier_flag_defaults() -> dict[str, Any]:
    """create_classifier flags (+ the diffusion flags a classifier script also accepts), reference defaults."""
    flags = script_util.classifier_and_diffusion_defaults()
    flags.pop("timestep_respacing")
    flags["sigma_small"] = False
    return flags


_SAMPLING_FLAGS = ("timestep_respacing", "use_ddim", "classifier_scale", "batch_size", "num_samples", "clip_denoised")


def _coerce(key: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("yes", "true", "t", "y", "1"):
            return True
        if text in ("no", "false", "f", "n", "0"):
            return False
        raise InputError(f"flag --{key} expects a boolean, got {value!r}")
    try:
        return type(default)(value)
    except (TypeError, ValueError):
        raise InputError(f"flag --{key} expects a {type(default).__name__}, got {value!r}") from None


def parse_flags(text: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Reference-style flags ("--key value ...", a JSON object, or a JSON file path) merged onto `defaults`."""
    text = text.strip()
    raw: dict[str, Any]
    if text.startswith("{"):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"flags are not valid JSON ({err})") from None
    elif text and not text.startswith("-") and Path(text).is_file():
        try:
            raw = json.loads(Path(text).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(f"cannot read flags ({err})", text) from None
    else:
        tokens = shlex.split(text)
        if len(tokens) % 2:
            raise InputError(f"flags must be '--name value' pairs, got {text!r}")
        raw = {}
        for name, value in zip(tokens[::2], tokens[1::2]):
            if not name.startswith("--"):
                raise InputError(f"expected a flag '--name', got {name!r}")
            raw[name[2:]] = value
    if not isinstance(raw, dict):
        raise InputError("flags must be a JSON object or '--name value' pairs")
    out = dict(defaults)
    for key, value in raw.items():
        if key in _SAMPLING_FLAGS:
            raise InputError(f"flag --{key} is a sampling option; use the admbench sample options instead")
        if key not in defaults:
            raise InputError(f"unknown flag --{key}; known flags: {', '.join(sorted(defaults))}")
        out[key] = _coerce(key, value, defaults[key])
    return out


def diffusion_config_from_flags(flags: dict[str, Any]) -> DiffusionConfig:
    """Native DiffusionConfig for create_gaussian_diffusion flags (without respacing)."""
    if flags["use_kl"]:
        loss = LossType.RESCALED_KL
    elif flags["rescale_learned_sigmas"]:
        loss = LossType.RESCALED_MSE
    else:
        loss = LossType.MSE
    if flags["learn_sigma"]:
        var = VarianceType.LEARNED_RANGE
    else:
        var = VarianceType.FIXED_SMALL if flags["sigma_small"] else VarianceType.FIXED_LARGE
    try:
        schedule = Schedule(flags["noise_schedule"])
    except ValueError:
        raise InputError(f"unknown noise_schedule {flags['noise_schedule']!r}") from None
    return DiffusionConfig(
        steps=flags["diffusion_steps"],
        schedule=schedule,
        mean_type=MeanType.START_X if flags["predict_xstart"] else MeanType.EPSILON,
        variance_type=var,
        loss_type=loss,
        rescale_timesteps=flags["rescale_timesteps"],
    )


def unet_config_from_flags(flags: dict[str, Any]) -> UNetConfig:
    names = inspect.signature(gd_models.unet_config_from_flags).parameters
    try:
        return gd_models.unet_config_from_flags(**{k: flags[k] for k in names})
    except ValueError as err:
        raise InputError(str(err)) from None


def classifier_config_from_flags(flags: dict[str, Any]) -> ClassifierConfig:
    try:
        names = inspect.signature(gd_models.classifier_config_from_flags).parameters
        return gd_models.classifier_config_from_flags(**{k: flags[k] for k in names})
    except ValueError as err:
        raise InputError(str(err)) from None


def _pseudo_run(kind: str, checkpoint: Path, flags: dict[str, Any], out_root: Path) -> Path:
    if not checkpoint.is_file():
        raise InputError("checkpoint file not found", checkpoint)
    record = {"kind": kind, "checkpoint": {"name": checkpoint.name, "path": str(checkpoint.resolve()),
                                           "sha256": sha256_file(checkpoint)}, "flags": flags}  # fmt: skip
    identity = {"kind": kind, "sha256": record["checkpoint"]["sha256"], "flags": flags}
    name = "".join(c if c.isalnum() else "-" for c in checkpoint.stem.lower())[:40]
    run_dir = out_root / "runs" / f"gd-{name}-{config_hash(identity)}"
    prepare_run_dir(run_dir, _Record(record))
    return run_dir


class _Record:
    """A config.json payload for prepare_run_dir (which only needs to_dict)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        return self.data


def prepare_gd_model_run(checkpoint: str | Path, flags_text: str, out_root: str | Path) -> Path:
    """Pseudo run directory (kind "gd-checkpoint") for a released diffusion checkpoint and its flags."""
    flags = parse_flags(flags_text, model_flag_defaults())
    unet_config_from_flags(flags)  # validate now
    diffusion_config_from_flags(flags)
    return _pseudo_run("gd-checkpoint", Path(checkpoint), flags, Path(out_root))


def prepare_gd_classifier_run(checkpoint: str | Path, flags_text: str, out_root: str | Path) -> Path:
    """Pseudo run directory (kind "gd-classifier") for a released noisy classifier and its flags."""
    flags = parse_flags(flags_text, classifier_flag_defaults())
    classifier_config_from_flags(flags)
    return _pseudo_run("gd-classifier", Path(checkpoint), flags, Path(out_root))


def _fp32(config: Any) -> Any:
    return type(config).from_dict({**config.to_dict(), "dtype": Precision.FP32.value})


def load_gd_unet(record: dict[str, Any], device: str) -> tuple[UNet, DiffusionConfig]:
    """The released UNet of a gd-checkpoint record (half-precision torso on CUDA when use_fp16, float32 on CPU)."""
    flags = record["flags"]
    config = unet_config_from_flags(flags)
    half = config.dtype is not Precision.FP32 and str(device).startswith("cuda")
    model = UNet(config if half else _fp32(config))
    path = Path(record["checkpoint"]["path"])
    load_checkpoint_strict(model, read_state_dict(path), path)
    if half:
        model.convert_to_fp16()
    return model, diffusion_config_from_flags(flags)


def load_gd_classifier(record: dict[str, Any], device: str) -> NoisyClassifier:
    flags = record["flags"]
    config = classifier_config_from_flags(flags)
    half = config.dtype is not Precision.FP32 and str(device).startswith("cuda")
    model = NoisyClassifier(config if half else _fp32(config))
    path = Path(record["checkpoint"]["path"])
    load_checkpoint_strict(model, read_state_dict(path), path)
    if half:
        model.convert_to_fp16()
    return model
