"""A guided-diffusion style sampling script (image_sample.py / classifier_sample.py shape) that imports only from
benchmark.compat.guided_diffusion. Run as a program by the tests; not collected by pytest.

Without --classifier_path it samples like image_sample.py (labels only when --class_cond True); with it, like
classifier_sample.py (a random label per sample, guided by the classifier's log-probability gradient).
"""

import argparse
import os

import numpy as np
import torch as th
import torch.distributed as dist
import torch.nn.functional as F

from benchmark.compat.guided_diffusion import dist_util, logger
from benchmark.compat.guided_diffusion.script_util import (
    NUM_CLASSES,
    add_dict_to_argparser,
    args_to_dict,
    classifier_defaults,
    create_classifier,
    create_model_and_diffusion,
    model_and_diffusion_defaults,
)


def main() -> None:
    args = create_argparser().parse_args()
    dist_util.setup_dist()
    logger.configure()

    logger.log("creating model and diffusion...")
    model, diffusion = create_model_and_diffusion(**args_to_dict(args, model_and_diffusion_defaults().keys()))
    model.load_state_dict(dist_util.load_state_dict(args.model_path, map_location="cpu"))
    model.to(dist_util.dev())
    if args.use_fp16:
        model.convert_to_fp16()
    model.eval()

    guided = bool(args.classifier_path)
    if guided:
        logger.log("loading classifier...")
        classifier = create_classifier(**args_to_dict(args, classifier_defaults().keys()))
        classifier.load_state_dict(dist_util.load_state_dict(args.classifier_path, map_location="cpu"))
        classifier.to(dist_util.dev())
        classifier.eval()

    def cond_fn(x, t, y=None):
        # Gradient of log p(y | x_t), scaled (ADM Algorithms 1 and 2).
        assert y is not None
        with th.enable_grad():
            x_in = x.detach().requires_grad_(True)
            log_probs = F.log_softmax(classifier(x_in, t), dim=-1)
            chosen = log_probs[th.arange(len(log_probs)), y.view(-1)]
            return th.autograd.grad(chosen.sum(), x_in)[0] * args.classifier_scale

    def model_fn(x, t, y=None):
        return model(x, t, y if args.class_cond else None)

    logger.log("sampling...")
    if args.seed >= 0:
        th.manual_seed(args.seed)  # after building the networks, so labels and noise depend on the seed only
    images, labels = [], []
    while len(images) * args.batch_size < args.num_samples:
        model_kwargs = {}
        if guided or args.class_cond:
            classes = th.randint(0, NUM_CLASSES, (args.batch_size,), device=dist_util.dev())
            model_kwargs["y"] = classes
        loop = diffusion.ddim_sample_loop if args.use_ddim else diffusion.p_sample_loop
        sample = loop(
            model_fn,
            (args.batch_size, 3, args.image_size, args.image_size),
            clip_denoised=args.clip_denoised,
            model_kwargs=model_kwargs,
            cond_fn=cond_fn if guided else None,
            device=dist_util.dev(),
        )
        sample = ((sample + 1) * 127.5).clamp(0, 255).to(th.uint8).permute(0, 2, 3, 1).contiguous()

        gathered = [th.zeros_like(sample) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, sample)
        images.extend(s.cpu().numpy() for s in gathered)
        if "y" in model_kwargs:
            gathered_y = [th.zeros_like(classes) for _ in range(dist.get_world_size())]
            dist.all_gather(gathered_y, classes)
            labels.extend(y.cpu().numpy() for y in gathered_y)
        logger.log(f"created {len(images) * args.batch_size} samples")

    arr = np.concatenate(images, axis=0)[: args.num_samples]
    if dist.get_rank() == 0:
        shape_str = "x".join(str(n) for n in arr.shape)
        out_path = os.path.join(logger.get_dir(), f"samples_{shape_str}.npz")
        logger.log(f"saving to {out_path}")
        if labels:
            np.savez(out_path, arr, np.concatenate(labels, axis=0)[: args.num_samples])
        else:
            np.savez(out_path, arr)
    dist.barrier()
    logger.log("sampling complete")


def create_argparser() -> argparse.ArgumentParser:
    defaults = dict(
        clip_denoised=True,
        num_samples=10000,
        batch_size=16,
        use_ddim=False,
        model_path="",
        classifier_path="",
        classifier_scale=1.0,
        seed=-1,
    )
    defaults.update(model_and_diffusion_defaults())
    defaults.update(classifier_defaults())
    parser = argparse.ArgumentParser()
    add_dict_to_argparser(parser, defaults)
    return parser


if __name__ == "__main__":
    main()
