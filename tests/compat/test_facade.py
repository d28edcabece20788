"""Every name the reference scripts import from guided_diffusion resolves after changing the import root only.

The name lists are written out from openai/guided-diffusion's scripts/*.py and train_util.py (their
`from guided_diffusion... import` lines and their `dist_util.` / `logger.` attribute uses).
"""

from __future__ import annotations

import importlib

import pytest

import benchmark.compat.guided_diffusion as facade
from benchmark.compat import dist_util, gd_diffusion, gd_models, logger, script_util

# scripts/<name>.py -> names imported from guided_diffusion.script_util
SCRIPT_UTIL_IMPORTS = {
    "image_sample": ["NUM_CLASSES", "model_and_diffusion_defaults", "create_model_and_diffusion",
                     "add_dict_to_argparser", "args_to_dict"],
    "classifier_sample": ["NUM_CLASSES", "model_and_diffusion_defaults", "classifier_defaults",
                          "create_model_and_diffusion", "create_classifier", "add_dict_to_argparser", "args_to_dict"],
    "image_train": ["model_and_diffusion_defaults", "create_model_and_diffusion", "args_to_dict",
                    "add_dict_to_argparser"],
    "classifier_train": ["add_dict_to_argparser", "args_to_dict", "classifier_and_diffusion_defaults",
                         "create_classifier_and_diffusion"],
    "image_nll": ["model_and_diffusion_defaults", "create_model_and_diffusion", "add_dict_to_argparser",
                  "args_to_dict"],
    "super_res_sample": ["sr_model_and_diffusion_defaults", "sr_create_model_and_diffusion", "args_to_dict",
                         "add_dict_to_argparser"],
    "super_res_train": ["sr_model_and_diffusion_defaults", "sr_create_model_and_diffusion", "args_to_dict",
                        "add_dict_to_argparser"],
}  # fmt: skip
OTHER_IMPORTS = {"resample": ["create_named_schedule_sampler"]}
DIST_UTIL_USES = ["setup_dist", "dev", "load_state_dict", "sync_params"]
LOGGER_USES = ["configure", "log", "logkv", "logkv_mean", "dumpkvs", "get_dir", "warn"]
# Further public names of the reference's script_util / gaussian_diffusion / respace / resample.
REFERENCE_PUBLIC = {
    "script_util": ["diffusion_defaults", "create_model", "create_gaussian_diffusion", "sr_create_model", "str2bool"],
    "gaussian_diffusion": ["GaussianDiffusion", "LossType", "ModelMeanType", "ModelVarType",
                           "get_named_beta_schedule"],
    "respace": ["SpacedDiffusion", "space_timesteps"],
    "resample": ["ScheduleSampler", "LossAwareSampler", "UniformSampler", "LossSecondMomentResampler",
                 "create_named_schedule_sampler"],
}  # fmt: skip


@pytest.mark.parametrize("script", sorted(SCRIPT_UTIL_IMPORTS))
def test_script_util_names_resolve_everywhere(script: str):
    submodule = importlib.import_module("benchmark.compat.guided_diffusion.script_util")
    for name in SCRIPT_UTIL_IMPORTS[script]:
        target = getattr(script_util, name)
        assert getattr(submodule, name) is target, name
        assert getattr(facade, name) is target, name


def test_from_root_import_dist_util_and_logger():
    """`from guided_diffusion import dist_util, logger` in both spellings."""
    from benchmark.compat import dist_util as direct_dist
    from benchmark.compat import logger as direct_logger
    from benchmark.compat.guided_diffusion import dist_util as gd_dist
    from benchmark.compat.guided_diffusion import logger as gd_logger

    for name in DIST_UTIL_USES:
        assert getattr(gd_dist, name) is getattr(direct_dist, name) is getattr(dist_util, name)
    for name in LOGGER_USES:
        assert getattr(gd_logger, name) is getattr(direct_logger, name) is getattr(logger, name)


@pytest.mark.parametrize("module", sorted(REFERENCE_PUBLIC))
def test_reference_submodules_resolve(module: str):
    submodule = importlib.import_module(f"benchmark.compat.guided_diffusion.{module}")
    source = script_util if module == "script_util" else gd_diffusion
    for name in REFERENCE_PUBLIC[module] + OTHER_IMPORTS.get(module, []):
        assert getattr(submodule, name) is getattr(source, name), name
        assert getattr(facade, name) is getattr(source, name), name


def test_every_exported_name_exists():
    for module in ("", ".script_util", ".dist_util", ".logger", ".gaussian_diffusion", ".respace", ".resample"):
        mod = importlib.import_module("benchmark.compat.guided_diffusion" + module)
        missing = [name for name in mod.__all__ if not hasattr(mod, name)]
        assert not missing, (module, missing)
    for mod in (script_util, dist_util, logger, gd_diffusion):
        assert not [name for name in mod.__all__ if not hasattr(mod, name)]
    assert facade.create_released is gd_models.create_released
