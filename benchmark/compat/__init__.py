"""Drop-in guided-diffusion API over the native admbench objects.

Scripts written for openai/guided-diffusion run after changing their imports only. Either change the import root
(`guided_diffusion` -> `benchmark.compat.guided_diffusion`, a package with the same submodule names), or point
each reference module at its counterpart here:

    guided_diffusion.script_util          -> benchmark.compat.script_util  (or the benchmark.compat.guided_diffusion
                                             facade, which re-exports every name below)
    guided_diffusion.dist_util            -> benchmark.compat.dist_util     (torch.distributed / torchrun, no mpi4py)
    guided_diffusion.logger               -> benchmark.compat.logger
    guided_diffusion.gaussian_diffusion,
    guided_diffusion.respace,
    guided_diffusion.resample             -> benchmark.compat.gd_diffusion
    guided_diffusion.unet                 -> benchmark.compat.gd_models     (create_model, create_classifier,
                                             sr_create_model; they return native benchmark.models modules)

so `from guided_diffusion import dist_util, logger` becomes `from benchmark.compat import dist_util, logger`.
Not covered: image_datasets, train_util, fp16_util and the reference's network classes themselves.
"""
