"""The guided-diffusion facade: change the import root `guided_diffusion` to `benchmark.compat.guided_diffusion`.

The submodules carry the reference's names and public names, so a reference script's imports map one to one:

    from guided_diffusion import dist_util, logger
      -> from benchmark.compat.guided_diffusion import dist_util, logger
    from guided_diffusion.script_util import create_model_and_diffusion, ...
      -> from benchmark.compat.guided_diffusion.script_util import create_model_and_diffusion, ...
    guided_diffusion.gaussian_diffusion / respace / resample
      -> benchmark.compat.guided_diffusion.gaussian_diffusion / respace / resample

dist_util runs on torch.distributed / torchrun (no mpi4py). script_util adds `create_released(name)` and
`released_models()` for the published checkpoints. Not provided: image_datasets.load_data, train_util.TrainLoop
and fp16_util (the native runners train), and the reference's unet module with its UNetModel / SuperResModel /
EncoderUNetModel classes (create_model / sr_create_model / create_classifier return the native benchmark.models
UNet / SuperResUNet / NoisyClassifier).
"""
