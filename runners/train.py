"""`admbench train`: train an ADM diffusion model from a RunConfig into its run directory (resumable, torchrun-ready).

Per step s: timesteps t ~ the timestep sampler (uniform, or iDDPM's loss-second-moment importance sampler) drawn
for the whole global batch from a generator seeded by (seed, s); noise of global sample i from its own
generator seeded by (seed, s, i); the loss is the configured diffusion objective (the hybrid
L_simple + lambda L_vlb for a learned variance, iDDPM Eq. 16) weighted by the importance weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.data.base import ImageDataset
from benchmark.data.registry import open_dataset
from benchmark.diffusion.gaussian import GaussianDiffusion
from benchmark.diffusion.timestep_sampler import LossSecondMomentResampler, UniformSampler
from benchmark.errors import InputError
from benchmark.models.unet import UNet
from benchmark.progress import Reporter
from runners.config import RunConfig, RunKind, TimestepSampling, TrainConfig
from runners.data_order import STREAM_TIMESTEP, BatchSource, LocalBatch, per_sample_noise, stream_seed
from runners.trainloop import TrainingInterrupted, TrainingSetup, claimed_run, finished, join_run, run_training, seeded_init

__all__ = ["TrainingInterrupted", "train", "diffusion_setup", "open_training_data", "DiffusionTask"]


def open_training_data(train: TrainConfig, num_classes: int | None) -> ImageDataset:
    """Open the configured dataset and check it fits the network (labels present and in range when conditional)."""
    dataset = open_dataset(train.dataset, train.resolution, train.channels, class_cond=train.class_cond)
    if dataset.resolution != train.resolution or dataset.channels != train.channels:
        raise InputError(f"dataset gives {dataset.resolution}px x {dataset.channels} channels, config needs "
                         f"{train.resolution}px x {train.channels}", train.dataset)  # fmt: skip
    if len(dataset) == 0:
        raise InputError("the dataset holds no images", train.dataset)
    if num_classes is not None:
        if dataset.num_classes < 1:
            raise InputError("a class-conditional model needs a labelled dataset", train.dataset)
        if dataset.num_classes > num_classes:
            raise InputError(f"the dataset has {dataset.num_classes} classes but the network {num_classes}", train.dataset)
    return dataset


class DiffusionTask:
    """Diffusion training losses with per-step seeded timesteps and per-sample seeded noise."""

    def __init__(self, diffusion: GaussianDiffusion, train: TrainConfig, class_cond: bool, device: torch.device) -> None:
        self.diffusion = diffusion
        self.train = train
        self.class_cond = class_cond
        self.device = device
        if train.timestep_sampler is TimestepSampling.UNIFORM:
            self.sampler: UniformSampler = UniformSampler(diffusion.num_timesteps)
        else:
            self.sampler = LossSecondMomentResampler(diffusion.num_timesteps)
        self.step = 0
        self.t = torch.zeros(0, dtype=torch.long)
        self.weights = torch.zeros(0)

    def prepare(self, step: int) -> None:
        rng = np.random.default_rng(stream_seed(self.train.seed, STREAM_TIMESTEP, step))
        self.step = step
        self.t, self.weights = self.sampler.sample(self.train.batch_size, self.device, rng=rng)

    def losses(self, model: nn.Module, batch: LocalBatch, lo: int, hi: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = batch.images
        noise = per_sample_noise(self.train.seed, self.step, range(lo, hi), tuple(x.shape[1:]), self.device)
        kwargs = {"y": batch.labels} if self.class_cond else {}
        terms = self.diffusion.training_losses(model, x, self.t[lo:hi], model_kwargs=kwargs, noise=noise)
        logged = {k: v.detach() for k, v in terms.items()}
        return terms["loss"] * self.weights[lo:hi], logged

    def finish(self, terms: dict[str, torch.Tensor], lo: int, hi: int) -> None:
        if isinstance(self.sampler, LossSecondMomentResampler):
            self.sampler.update_with_local_losses(self.t[lo:hi], terms["loss"])

    def state_dict(self) -> dict[str, Any]:
        if isinstance(self.sampler, LossSecondMomentResampler):
            return {
                "loss_history": torch.from_numpy(self.sampler.loss_history.copy()),
                "loss_counts": torch.from_numpy(self.sampler.loss_counts.copy()),
            }
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if isinstance(self.sampler, LossSecondMomentResampler) and state:
            self.sampler.loss_history[...] = state["loss_history"].numpy()
            self.sampler.loss_counts[...] = state["loss_counts"].numpy()


def train(
    config: RunConfig,
    out_root: str | Path,
    device: str = "cpu",
    reporter: Reporter | None = None,
    run_dir: str | Path | None = None,
    num_workers: int = 4,
    stop_after: int | None = None,
) -> Path:
    """Train (or resume) the run of `config` under `out_root/runs/`; returns the run directory.

    Returns at once when the last milestone's checkpoint exists. Under torchrun every process calls this.
    `run_dir` overrides the content-addressed directory (a directory holding another config is refused);
    `stop_after` ends after that many steps of this call (tests, perf).
    """
    if not isinstance(config, RunConfig):
        raise InputError(f"train() needs a diffusion RunConfig, got a {type(config).__name__}")
    target, world, dev = join_run(config, out_root, run_dir, device)
    if finished(target, config):
        return target.path
    setup = diffusion_setup(config, dev, num_workers)  # opens and checks the dataset before the run directory is made
    with claimed_run(target, config, world):
        return run_training(setup, target, world, dev, reporter, stop_after)


def diffusion_setup(config: RunConfig, device: torch.device, num_workers: int = 4) -> TrainingSetup:
    """The data, seeded network and loss of a diffusion run (what `TrainStep` needs)."""
    dataset = open_training_data(config.train, config.unet.num_classes)
    model = seeded_init(config.train.seed, lambda: UNet(config.unet))
    task = DiffusionTask(GaussianDiffusion.from_config(config.diffusion), config.train, config.train.class_cond, device)
    source = BatchSource(dataset, config.train.batch_size, config.train.seed, config.train.random_flip, device, num_workers)
    return TrainingSetup(config=config, model=model, task=task, source=source, kind=RunKind.DIFFUSION)
