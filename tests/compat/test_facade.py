"""Every name the reference scripts import from guided_diffusion resolves after changing the import root only.

The name lists are written out from openai/guided-diffusion's scripts/*.py and train_util.py (their
`from guided_diffusion... import` lines and their `dist_util.` / `logger.` attribute uses).
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import benchmark.compat
import benchmark.compat.guided_diffusion as facade

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
REFERENCE_MODULES = ["dist_util", "gaussian_diffusion", "logger", "resample", "respace", "script_util"]


@pytest.mark.parametrize("script", sorted(SCRIPT_UTIL_IMPORTS))
def test_script_util_names_resolve(script: str):
    from benchmark.compat.guided_diffusion import script_util

    assert [name for name in SCRIPT_UTIL_IMPORTS[script] if name not in script_util.__all__] == []
    assert all(callable(getattr(script_util, name)) for name in SCRIPT_UTIL_IMPORTS[script] if name != "NUM_CLASSES")


def test_from_root_import_dist_util_and_logger():
    """`from guided_diffusion import dist_util, logger` with the import root changed."""
    from benchmark.compat.guided_diffusion import dist_util, logger

    assert [name for name in DIST_UTIL_USES if not callable(getattr(dist_util, name, None))] == []
    assert [name for name in LOGGER_USES if not callable(getattr(logger, name, None))] == []


@pytest.mark.parametrize("module", sorted(REFERENCE_PUBLIC))
def test_reference_submodules_resolve(module: str):
    submodule = importlib.import_module(f"benchmark.compat.guided_diffusion.{module}")
    assert [name for name in REFERENCE_PUBLIC[module] if name not in submodule.__all__] == []


def test_one_facade_with_the_reference_module_names():
    """The facade's submodules are the reference's, each name is defined once, and benchmark.compat holds nothing
    but the facade."""
    assert sorted(m.name for m in pkgutil.iter_modules(facade.__path__)) == REFERENCE_MODULES
    assert [m.name for m in pkgutil.iter_modules(benchmark.compat.__path__)] == ["guided_diffusion"]
    owners: dict[str, str] = {}
    for module in REFERENCE_MODULES:
        mod = importlib.import_module(f"benchmark.compat.guided_diffusion.{module}")
        assert [name for name in mod.__all__ if not hasattr(mod, name)] == [], module
        for name in mod.__all__:
            assert name not in owners, f"{name} exported by both {owners[name]} and {module}"
            owners[name] = module
