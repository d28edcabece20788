"""ADM UNet and noisy classifier (native API): frozen configs, modules, strict checkpoint loading."""

from benchmark.models.checkpoint import load_checkpoint_strict, read_state_dict, state_dict_mismatches
from benchmark.models.classifier import NoisyClassifier
from benchmark.models.config import (
    AttentionOrder,
    ClassifierConfig,
    NormType,
    Pooling,
    Precision,
    UNetConfig,
)
from benchmark.models.unet import SuperResUNet, UNet

__all__ = [
    "AttentionOrder",
    "ClassifierConfig",
    "NoisyClassifier",
    "NormType",
    "Pooling",
    "Precision",
    "SuperResUNet",
    "UNet",
    "UNetConfig",
    "load_checkpoint_strict",
    "read_state_dict",
    "state_dict_mismatches",
]
