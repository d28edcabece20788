"""Released guided-diffusion checkpoints as sampling sources (flags translated by benchmark.models.released).

Flags are given as in the reference README (`"--image_size 256 --class_cond True ..."`) or as a JSON object
(inline or a file); missing flags take the reference script defaults (benchmark.models.released).
A checkpoint and its flags become a `ReleasedCheckpoint` record (runners.config: kind gd-checkpoint or
gd-classifier, the file's sha256, the flags) and a run directory `<out_root>/runs/gd-<name>-<hash10>/` holding it
as config.json (runners.rundir), so samples and metrics live in the same layout as those of trained runs.
"""

from __future__ import annotations

import inspect
import json
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

from benchmark.diffusion.config import DiffusionConfig
from benchmark.errors import InputError
from benchmark.io.atomic import sha256_file
from benchmark.io.json_input import parse_json, read_json
from benchmark.io.outputs import check_writable_dir
from benchmark.models import released
from benchmark.models.checkpoint import load_checkpoint_strict, read_state_dict, state_dict_mismatches
from benchmark.models.classifier import NoisyClassifier
from benchmark.models.config import ClassifierConfig, Precision, UNetConfig
from benchmark.models.released import diffusion_config_from_flags
from benchmark.models.unet import UNet
from runners.config import ReleasedCheckpoint, RunKind
from runners.rundir import RunDir


def model_flag_defaults() -> dict[str, Any]:
    """create_model + create_gaussian_diffusion flags with the reference script defaults (respacing excluded)."""
    flags = released.model_and_diffusion_defaults()
    flags.pop("timestep_respacing")
    flags["sigma_small"] = False  # create_gaussian_diffusion's own default
    return flags


def classifier_flag_defaults() -> dict[str, Any]:
    """create_classifier flags (+ the diffusion flags a classifier script also accepts), reference defaults."""
    flags = released.classifier_and_diffusion_defaults()
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
        raw = parse_json(text)
    elif text and not text.startswith("-") and Path(text).is_file():
        raw = read_json(text, "flags file")
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


def unet_config_from_flags(flags: dict[str, Any]) -> UNetConfig:
    names = inspect.signature(released.unet_config_from_flags).parameters
    try:
        return released.unet_config_from_flags(**{k: flags[k] for k in names})
    except ValueError as err:
        raise InputError(str(err)) from None


def classifier_config_from_flags(flags: dict[str, Any]) -> ClassifierConfig:
    try:
        names = inspect.signature(released.classifier_config_from_flags).parameters
        return released.classifier_config_from_flags(**{k: flags[k] for k in names})
    except ValueError as err:
        raise InputError(str(err)) from None


def _state_dict_shapes(checkpoint: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors without their data where the format allows (memory-mapped .pt, safetensors header)."""
    if checkpoint.suffix == ".safetensors":
        try:
            with safe_open(str(checkpoint), framework="pt") as f:
                return {k: torch.empty(f.get_slice(k).get_shape(), device="meta") for k in f.keys()}
        except Exception as err:  # noqa: BLE001 - any decode failure is a bad file for the user
            raise InputError(f"cannot read checkpoint ({type(err).__name__}: {err})", checkpoint) from None
    try:
        obj = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # an old-style (non-zip) torch.save file cannot be memory-mapped
        return read_state_dict(checkpoint)
    except Exception as err:  # noqa: BLE001
        raise InputError(f"cannot read checkpoint ({type(err).__name__}: {err})", checkpoint) from None
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError("checkpoint is not a state_dict (a mapping of names to tensors)", checkpoint)
    return obj


def check_checkpoint_fits(make: Callable[[], nn.Module], checkpoint: Path) -> None:
    """InputError naming the checkpoint when it is unreadable or its keys and shapes are not those of `make()`'s
    network (built on the meta device: no memory, no initialisation)."""
    if not checkpoint.is_file():
        raise InputError("checkpoint file not found", checkpoint)
    with torch.device("meta"):
        model = make()
    problems = state_dict_mismatches(model, _state_dict_shapes(checkpoint))
    if problems:
        raise InputError("checkpoint does not match its flags: " + "; ".join(problems), checkpoint)


def released_record(kind: RunKind, checkpoint: Path, flags: dict[str, Any],
                    url: str | None = None) -> ReleasedCheckpoint:  # fmt: skip
    """The record of a checkpoint file and its (checked) flags: name, resolved path, sha256; writes nothing."""
    if not checkpoint.is_file():
        raise InputError("checkpoint file not found", checkpoint)
    return ReleasedCheckpoint(kind, checkpoint.name, str(checkpoint.resolve()), sha256_file(checkpoint), flags, url)


def create_released_run(record: ReleasedCheckpoint, out_root: str | Path) -> RunDir:
    """Make the record's run directory (config.json first); one that cannot be written is an InputError."""
    run = RunDir.for_record(record, out_root)
    check_writable_dir(run.path, "run directory")
    return run.create(record)


def gd_model_run(checkpoint: str | Path, flags_text: str, url: str | None = None) -> ReleasedCheckpoint:
    """The checked record (kind gd-checkpoint) of a released diffusion checkpoint and its flags; writes nothing."""
    flags = parse_flags(flags_text, model_flag_defaults())
    config = unet_config_from_flags(flags)
    diffusion_config_from_flags(flags)
    check_checkpoint_fits(lambda: UNet(_fp32(config)), Path(checkpoint))
    return released_record(RunKind.GD_CHECKPOINT, Path(checkpoint), flags, url)


def gd_classifier_run(checkpoint: str | Path, flags_text: str, url: str | None = None) -> ReleasedCheckpoint:
    """The checked record (kind gd-classifier) of a released noisy classifier and its flags; writes nothing."""
    flags = parse_flags(flags_text, classifier_flag_defaults())
    config = classifier_config_from_flags(flags)
    check_checkpoint_fits(lambda: NoisyClassifier(_fp32(config)), Path(checkpoint))
    return released_record(RunKind.GD_CLASSIFIER, Path(checkpoint), flags, url)


def prepare_gd_model_run(checkpoint: str | Path, flags_text: str, out_root: str | Path) -> Path:
    """The run directory (kind gd-checkpoint) of a released diffusion checkpoint and its flags, made."""
    return create_released_run(gd_model_run(checkpoint, flags_text), out_root).path


def prepare_gd_classifier_run(checkpoint: str | Path, flags_text: str, out_root: str | Path) -> Path:
    """The run directory (kind gd-classifier) of a released noisy classifier and its flags, made."""
    return create_released_run(gd_classifier_run(checkpoint, flags_text), out_root).path


# Diffusion flags of the released 256x256 models (paper Table 11: 1000 steps, linear schedule, learned sigma); the
# packaged records hold create_model / create_classifier keywords only.
PUBLISHED_DIFFUSION_FLAGS = {"learn_sigma": True, "diffusion_steps": 1000, "noise_schedule": "linear"}


def published_flags(name: str, kind: RunKind) -> dict[str, Any]:
    """A packaged released model's full flags (reference defaults filled in), as its run's record holds them."""
    entry = released.released_models()[name]
    flags = {**entry["flags"], **PUBLISHED_DIFFUSION_FLAGS}
    if kind is RunKind.GD_CLASSIFIER:
        flags.pop("learn_sigma")
        return parse_flags(json.dumps(flags), classifier_flag_defaults())
    return parse_flags(json.dumps(flags), model_flag_defaults())


def published_run_dir(name: str, filename: str, kind: RunKind, out_root: str | Path) -> RunDir:
    """Where a packaged released model's run directory is, before its file is fetched."""
    return RunDir.for_published(kind, filename, released.released_models()[name]["url"], published_flags(name, kind),
                                out_root)  # fmt: skip


def prepare_published_run(name: str, checkpoint: Path, kind: RunKind, out_root: str | Path) -> RunDir:
    """Make the run directory of a packaged released model from its fetched file (named by its URL)."""
    url = released.released_models()[name]["url"]
    text = json.dumps(published_flags(name, kind))
    make = gd_classifier_run if kind is RunKind.GD_CLASSIFIER else gd_model_run
    return create_released_run(make(checkpoint, text, url), out_root)


def verified_file(record: ReleasedCheckpoint) -> Path:
    """The record's checkpoint file, after checking it is still the file the run directory was made from."""
    path = record.file
    if not path.is_file():
        raise InputError("checkpoint file not found (the run directory's config.json names it)", path)
    digest = sha256_file(path)
    if digest != record.sha256:
        raise InputError(f"checkpoint file changed since its run directory was made: sha256 {digest[:12]}..., "
                         f"recorded {record.sha256[:12]}...", path)  # fmt: skip
    return path


def _fp32(config: Any) -> Any:
    return type(config).from_dict({**config.to_dict(), "dtype": Precision.FP32.value})


def released_diffusion(record: ReleasedCheckpoint) -> DiffusionConfig:
    """The diffusion process a released checkpoint's flags describe."""
    return diffusion_config_from_flags(dict(record.flags))


def _load_released(build: Callable[[Any], nn.Module], config: UNetConfig | ClassifierConfig,
                   record: ReleasedCheckpoint, device: str) -> nn.Module:
    """A released network from its verified file: half-precision torso on CUDA when its flags say fp16, else float32."""
    path = verified_file(record)
    half = config.dtype is not Precision.FP32 and str(device).startswith("cuda")
    model = build(config if half else _fp32(config))
    load_checkpoint_strict(model, read_state_dict(path), path)
    if half:
        model.convert_to_fp16()
    return model


def load_gd_unet(record: ReleasedCheckpoint, device: str) -> tuple[UNet, DiffusionConfig]:
    """The released UNet of a gd-checkpoint record (half-precision torso on CUDA when use_fp16, float32 on CPU)."""
    model = _load_released(UNet, unet_config_from_flags(dict(record.flags)), record, device)
    return model, released_diffusion(record)


def load_gd_classifier(record: ReleasedCheckpoint, device: str) -> NoisyClassifier:
    """The released noisy classifier of a gd-classifier record."""
    return _load_released(NoisyClassifier, classifier_config_from_flags(dict(record.flags)), record, device)
