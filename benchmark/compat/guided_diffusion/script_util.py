"""guided_diffusion.script_util -> benchmark.compat.script_util (same names)."""

from benchmark.compat.script_util import (
    NUM_CLASSES,
    add_dict_to_argparser,
    args_to_dict,
    classifier_and_diffusion_defaults,
    classifier_defaults,
    create_classifier,
    create_classifier_and_diffusion,
    create_gaussian_diffusion,
    create_model,
    create_model_and_diffusion,
    diffusion_defaults,
    model_and_diffusion_defaults,
    sr_create_model,
    sr_create_model_and_diffusion,
    sr_model_and_diffusion_defaults,
    str2bool,
)

__all__ = [
    "NUM_CLASSES",
    "add_dict_to_argparser",
    "args_to_dict",
    "classifier_and_diffusion_defaults",
    "classifier_defaults",
    "create_classifier",
    "create_classifier_and_diffusion",
    "create_gaussian_diffusion",
    "create_model",
    "create_model_and_diffusion",
    "diffusion_defaults",
    "model_and_diffusion_defaults",
    "sr_create_model",
    "sr_create_model_and_diffusion",
    "sr_model_and_diffusion_defaults",
    "str2bool",
]
