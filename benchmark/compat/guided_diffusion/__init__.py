"""The guided-diffusion facade: change the import root `guided_diffusion` to `benchmark.compat.guided_diffusion`.

A reference script's imports map one to one:

    from guided_diffusion import dist_util, logger
      -> from benchmark.compat.guided_diffusion import dist_util, logger
    from guided_diffusion.script_util import create_model_and_diffusion, ...
      -> from benchmark.compat.guided_diffusion.script_util import create_model_and_diffusion, ...
    guided_diffusion.resample / gaussian_diffusion / respace
      -> benchmark.compat.guided_diffusion.resample / gaussian_diffusion / respace

Every public name is also importable from the package itself
(`from benchmark.compat.guided_diffusion import create_model_and_diffusion, create_classifier, ...`).
Not provided: image_datasets.load_data, train_util.TrainLoop and fp16_util (the native runners train), and the
reference's UNetModel / SuperResModel / EncoderUNetModel classes (create_model / sr_create_model /
create_classifier return the native benchmark.models UNet / SuperResUNet / NoisyClassifier).
"""

from benchmark.compat.gd_diffusion import (
    GaussianDiffusion,
    LossAwareSampler,
    LossSecondMomentResampler,
    LossType,
    ModelMeanType,
    ModelVarType,
    ScheduleSampler,
    SpacedDiffusion,
    UniformSampler,
    create_named_schedule_sampler,
    get_named_beta_schedule,
    space_timesteps,
)
from benchmark.compat.gd_models import create_released, released_models
from benchmark.compat.guided_diffusion import (
    dist_util,
    gaussian_diffusion,
    logger,
    resample,
    respace,
    script_util,
)
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
    "GaussianDiffusion",
    "LossAwareSampler",
    "LossSecondMomentResampler",
    "LossType",
    "ModelMeanType",
    "ModelVarType",
    "NUM_CLASSES",
    "ScheduleSampler",
    "SpacedDiffusion",
    "UniformSampler",
    "add_dict_to_argparser",
    "args_to_dict",
    "classifier_and_diffusion_defaults",
    "classifier_defaults",
    "create_classifier",
    "create_classifier_and_diffusion",
    "create_gaussian_diffusion",
    "create_model",
    "create_model_and_diffusion",
    "create_named_schedule_sampler",
    "create_released",
    "diffusion_defaults",
    "dist_util",
    "gaussian_diffusion",
    "get_named_beta_schedule",
    "logger",
    "model_and_diffusion_defaults",
    "released_models",
    "resample",
    "respace",
    "script_util",
    "space_timesteps",
    "sr_create_model",
    "sr_create_model_and_diffusion",
    "sr_model_and_diffusion_defaults",
    "str2bool",
]
