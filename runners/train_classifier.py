"""`admbench train-classifier`: the noisy classifier p_phi(y | x_t, t) used for guidance (paper §4).

As in the reference classifier training: t is drawn uniformly for every sample, x_t ~ q(x_t | x_0) with the
run's noise schedule, and the loss is the cross-entropy of the classifier's logits (attention pooling by
default). Same run directory, checkpoints, resume, DDP and signal handling as `admbench train`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.diffusion.gaussian import GaussianDiffusion
from benchmark.diffusion.timestep_sampler import UniformSampler
from benchmark.errors import InputError
from benchmark.models.classifier import NoisyClassifier
from benchmark.progress import Reporter
from runners.config import ClassifierRunConfig, RunKind, TrainConfig
from runners.data_order import STREAM_TIMESTEP, BatchSource, LocalBatch, per_sample_noise, stream_seed
from runners.train import open_training_data
from runners.trainloop import TrainingSetup, claimed_run, finished, join_run, run_training, seeded_init

__all__ = ["train_classifier", "classifier_setup", "ClassifierTask"]


class ClassifierTask:
    """Cross-entropy of the classifier on noised images at uniformly drawn timesteps; logs accuracy too."""

    def __init__(self, diffusion: GaussianDiffusion, train: TrainConfig, device: torch.device) -> None:
        self.diffusion = diffusion
        self.train = train
        self.device = device
        self.sampler = UniformSampler(diffusion.num_timesteps)
        self.step = 0
        self.t = torch.zeros(0, dtype=torch.long)

    def prepare(self, step: int) -> None:
        rng = np.random.default_rng(stream_seed(self.train.seed, STREAM_TIMESTEP, step))
        self.step = step
        self.t, _ = self.sampler.sample(self.train.batch_size, self.device, rng=rng)

    def losses(self, model: nn.Module, batch: LocalBatch, lo: int, hi: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x0 = batch.images
        t = self.t[lo:hi]
        noise = per_sample_noise(self.train.seed, self.step, range(lo, hi), tuple(x0.shape[1:]), self.device)
        x_t = self.diffusion.q_sample(x0, t, noise=noise)
        logits = model(x_t, self.diffusion.model_timesteps(t))
        loss = F.cross_entropy(logits.float(), batch.labels, reduction="none")
        k = min(5, logits.shape[-1])
        top = logits.detach().topk(k, dim=-1).indices
        terms = {
            "loss": loss.detach(),
            "acc1": (top[:, 0] == batch.labels).float(),
            f"acc{k}": (top == batch.labels[:, None]).any(dim=-1).float(),
        }
        return loss, terms

    def finish(self, terms: dict[str, torch.Tensor], lo: int, hi: int) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def train_classifier(
    config: ClassifierRunConfig,
    out_root: str | Path,
    device: str = "cpu",
    reporter: Reporter | None = None,
    run_dir: str | Path | None = None,
    num_workers: int = 4,
    stop_after: int | None = None,
) -> Path:
    """Train (or resume) a noisy classifier run under `out_root/runs/`; returns the run directory."""
    if not isinstance(config, ClassifierRunConfig):
        raise InputError(f"train_classifier() needs a ClassifierRunConfig, got a {type(config).__name__}")
    target, world, dev = join_run(config, out_root, run_dir, device)
    if finished(target, config):
        return target.path
    setup = classifier_setup(config, dev, num_workers)  # opens and checks the dataset before the run directory is made
    with claimed_run(target, config, world):
        return run_training(setup, target, world, dev, reporter, stop_after)


def classifier_setup(config: ClassifierRunConfig, device: torch.device, num_workers: int = 4) -> TrainingSetup:
    """The data, seeded classifier and loss of a classifier run (what `TrainStep` needs)."""
    dataset = open_training_data(config.train, config.classifier.num_classes)
    model = seeded_init(config.train.seed, lambda: NoisyClassifier(config.classifier))
    task = ClassifierTask(GaussianDiffusion.from_config(config.diffusion), config.train, device)
    source = BatchSource(dataset, config.train.batch_size, config.train.seed, config.train.random_flip, device, num_workers)
    return TrainingSetup(config=config, model=model, task=task, source=source, kind=RunKind.CLASSIFIER)
