"""Training-time timestep samplers: uniform and iDDPM's loss-aware importance sampler (second moment of L_t)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist


class UniformSampler:
    """t ~ Uniform{0, ..., T-1}; every importance weight is 1."""

    def __init__(self, num_timesteps: int) -> None:
        self.num_timesteps = int(num_timesteps)

    def weights(self) -> np.ndarray:
        """Unnormalised sampling weights, one per timestep."""
        return np.ones([self.num_timesteps], dtype=np.float64)

    def sample(
        self, batch_size: int, device: torch.device | str, rng: np.random.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Importance-sample timesteps: (t [B] long, weights [B] = 1 / (T p_t)), so the weighted loss is unbiased.

        `rng=None` draws from numpy's global RNG (the reference behaviour); pass a Generator for reproducibility.
        """
        w = self.weights()
        p = w / np.sum(w)
        choice = np.random.choice if rng is None else rng.choice
        indices = choice(len(p), size=(batch_size,), p=p)
        weights = 1.0 / (len(p) * p[indices])
        return torch.from_numpy(indices).long().to(device), torch.from_numpy(weights).float().to(device)


class LossSecondMomentResampler(UniformSampler):
    """iDDPM Eq. 18: p_t proportional to sqrt(E[L_t^2]) over the last `history_per_term` losses of each t.

    Uniform until every t has a full history; then mixed with `uniform_prob` of the uniform distribution.
    """

    def __init__(self, num_timesteps: int, history_per_term: int = 10, uniform_prob: float = 0.001) -> None:
        super().__init__(num_timesteps)
        self.history_per_term = int(history_per_term)
        self.uniform_prob = float(uniform_prob)
        self.loss_history = np.zeros([self.num_timesteps, self.history_per_term], dtype=np.float64)
        self.loss_counts = np.zeros([self.num_timesteps], dtype=np.int64)

    def warmed_up(self) -> bool:
        """True once every timestep has `history_per_term` recorded losses."""
        return bool((self.loss_counts == self.history_per_term).all())

    def weights(self) -> np.ndarray:
        if not self.warmed_up():
            return np.ones([self.num_timesteps], dtype=np.float64)
        weights = np.sqrt(np.mean(self.loss_history**2, axis=-1))
        weights /= np.sum(weights)
        weights *= 1 - self.uniform_prob
        weights += self.uniform_prob / len(weights)
        return weights

    def update_with_all_losses(self, ts: Sequence[int], losses: Sequence[float]) -> None:
        """Record losses (identical call on every rank): a FIFO of the last `history_per_term` per timestep."""
        for t, loss in zip(ts, losses):
            t = int(t)
            if self.loss_counts[t] == self.history_per_term:
                self.loss_history[t, :-1] = self.loss_history[t, 1:]
                self.loss_history[t, -1] = loss
            else:
                self.loss_history[t, self.loss_counts[t]] = loss
                self.loss_counts[t] += 1

    def update_with_local_losses(self, local_ts: torch.Tensor, local_losses: torch.Tensor) -> None:
        """Gather (t, loss) pairs from every rank in rank order, then update; works without torch.distributed too."""
        if not (dist.is_available() and dist.is_initialized()):
            self.update_with_all_losses(local_ts.tolist(), local_losses.detach().tolist())
            return
        world = dist.get_world_size()
        sizes = [torch.zeros(1, dtype=torch.int32, device=local_ts.device) for _ in range(world)]
        dist.all_gather(sizes, torch.tensor([len(local_ts)], dtype=torch.int32, device=local_ts.device))
        counts = [int(s.item()) for s in sizes]
        max_bs = max(counts)
        ts_pad = torch.zeros(max_bs, dtype=local_ts.dtype, device=local_ts.device)
        loss_pad = torch.zeros(max_bs, dtype=local_losses.dtype, device=local_losses.device)
        ts_pad[: len(local_ts)] = local_ts
        loss_pad[: len(local_losses)] = local_losses.detach()
        ts_all = [torch.zeros_like(ts_pad) for _ in range(world)]
        loss_all = [torch.zeros_like(loss_pad) for _ in range(world)]
        dist.all_gather(ts_all, ts_pad)
        dist.all_gather(loss_all, loss_pad)
        ts = [x for y, n in zip(ts_all, counts) for x in y[:n].tolist()]
        losses = [x for y, n in zip(loss_all, counts) for x in y[:n].tolist()]
        self.update_with_all_losses(ts, losses)
