"""Bootstrap intervals of every metric from the features already in hand (no second extraction).

One set of resample indices (seeded, `resamples x n` draws with replacement of the sample archive's rows) is
used for every metric, and the replicates are stored, so that two archives of the same size evaluated with the
same seed can be compared PAIRED (reports.uncertainty): sample i of every admbench archive shares its noise
seed and label, so the same indices select corresponding samples. The reference is fixed throughout.

Per metric, a replicate is the metric of the resampled sample set:
  - fid: Frechet distance of the resampled pool features' mean and covariance to the reference statistics;
  - inception_score: the score of the resampled probabilities (same split size);
  - precision: the mean of the per-sample "inside some reference ball" flags;
  - label_accuracy: the mean of the per-sample "classified as its label" flags;
  - recall: the fraction of reference points inside the ball of at least one resampled sample, with each
    sample's k-NN radius taken from the full set.
Two of these are biased by resampling itself: a resample holds about 63% distinct samples, which lowers
recall, and its mean is off by about tr(Sigma)/n, which raises FID (measured on a 500-sample archive: FID 12.2,
uncentred interval [11.2, 17.6]). Their replicates are therefore shifted by the difference of
their mean from the full-set value (the spread is kept, and the interval is centred on the reported number);
the others are used as drawn. Intervals are percentile intervals of the replicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from benchmark.evaluation.metrics import frechet_distance, inception_score


@dataclass(frozen=True)
class BootstrapSettings:
    resamples: int = 200
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.resamples < 1:
            raise ValueError(f"bootstrap resamples must be >= 1, got {self.resamples}")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"bootstrap confidence must lie in (0, 1), got {self.confidence}")


@dataclass(frozen=True)
class BootstrapInputs:
    """Per-sample quantities of one evaluation (n samples, m reference points)."""

    pool: np.ndarray  # [n, D] sample pool features
    ref_mu: np.ndarray
    ref_sigma: np.ndarray
    probs: np.ndarray  # [n, C] softmax of the logits
    is_split_size: int
    precision_flags: np.ndarray  # [n] bool
    cover: np.ndarray  # [m, n] bool: reference point j inside sample i's ball
    fid: float  # the full-set FID (against ref_mu, ref_sigma)
    recall: float  # the full-set recall (cover.any(1).mean())
    correct: np.ndarray | None  # [n] bool, argmax(logits) == label; None without labels / label space


@dataclass(frozen=True)
class BootstrapResult:
    settings: BootstrapSettings
    num_samples: int
    replicates: dict[str, np.ndarray]
    intervals: dict[str, tuple[float, float]]

    def to_dict(self) -> dict[str, object]:
        return {
            "resamples": self.settings.resamples,
            "seed": self.settings.seed,
            "confidence": self.settings.confidence,
            "num_samples": self.num_samples,
            "method": "percentile bootstrap over the sample archive's rows (one index set for every metric), "
            "reference fixed; fid and recall replicates centred on the full-set values",
            "replicates": {k: [float(v) for v in r] for k, r in self.replicates.items()},
        }


def resample_indices(n: int, settings: BootstrapSettings) -> np.ndarray:
    """[resamples, n] row indices drawn with replacement; the same for every archive of n samples and a seed."""
    return np.random.default_rng(settings.seed).integers(0, n, size=(settings.resamples, n))


def _recall_replicates(cover: np.ndarray, indices: np.ndarray, device: str | torch.device) -> np.ndarray:
    """Fraction of reference rows covered by at least one resampled sample, per resample."""
    n = cover.shape[1]
    counts = np.stack([np.bincount(idx, minlength=n) for idx in indices], axis=1).astype(np.float32)  # [n, B]
    weights = torch.as_tensor(counts, device=device)
    covered = torch.zeros(indices.shape[0], dtype=torch.float64, device=device)
    for r0 in range(0, cover.shape[0], 2048):
        block = torch.as_tensor(cover[r0 : r0 + 2048], device=device).to(torch.float32)
        covered += ((block @ weights) > 0).sum(dim=0).to(torch.float64)
    return (covered / cover.shape[0]).cpu().numpy()


def bootstrap_metrics(inputs: BootstrapInputs, settings: BootstrapSettings,
                      device: str | torch.device = "cpu") -> BootstrapResult:  # fmt: skip
    """Replicates and percentile intervals of fid, inception_score, precision, recall (and label_accuracy)."""
    n = len(inputs.pool)
    indices = resample_indices(n, settings)
    pool = np.asarray(inputs.pool, dtype=np.float64)
    fid = np.array([frechet_distance(pool[i].mean(axis=0), np.cov(pool[i], rowvar=False), inputs.ref_mu,
                                     inputs.ref_sigma, device=device) for i in indices])  # fmt: skip
    reps: dict[str, np.ndarray] = {
        "fid": fid - fid.mean() + inputs.fid,
        "inception_score": np.array([inception_score(inputs.probs[i], inputs.is_split_size) for i in indices]),
        "precision": inputs.precision_flags.astype(np.float64)[indices].mean(axis=1),
    }
    recall = _recall_replicates(inputs.cover, indices, device)
    reps["recall"] = recall - recall.mean() + inputs.recall
    if inputs.correct is not None:
        reps["label_accuracy"] = inputs.correct.astype(np.float64)[indices].mean(axis=1)
    alpha = (1.0 - settings.confidence) / 2.0
    intervals = {k: (float(np.quantile(v, alpha)), float(np.quantile(v, 1.0 - alpha))) for k, v in reps.items()}
    return BootstrapResult(settings, n, reps, intervals)
