"""Label accuracy: the fraction of samples an extractor with a label space classifies as their arr_1 label."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.errors import InputError
from benchmark.evaluation.bootstrap import BootstrapSettings
from benchmark.evaluation.evaluate import evaluate
from benchmark.evaluation.settings import EvalSettings
from benchmark.extractors.base import ExtractorInfo, FeatureExtractor, Features


class _BrightnessClassifier(FeatureExtractor):
    """Logits that name the image's brightness quartile (class 0 darkest .. 3 brightest)."""

    def __init__(self, label_space: str | None) -> None:
        self._info = ExtractorInfo("brightness-test", "test", "0" * 64, "none", "numpy", 3, 2, 4,
                                   label_space=label_space)  # fmt: skip

    @property
    def info(self) -> ExtractorInfo:
        return self._info

    def extract(self, images: np.ndarray) -> Features:
        x = images.reshape(len(images), -1).astype(np.float32) / 255.0
        mean = x.mean(1)
        logits = np.eye(4, dtype=np.float32)[np.minimum((mean * 4).astype(int), 3)] * 5
        pool = np.stack([mean, x.std(1), x[:, 0]], 1)
        return Features(pool=pool, spatial=pool[:, :2].copy(), logits=logits)


def _archive(path, levels, labels=None):
    images = np.repeat(np.asarray(levels, np.uint8)[:, None, None, None], 16, axis=1).reshape(-1, 4, 4, 1)
    images = images + np.random.default_rng(len(levels)).integers(0, 3, images.shape, dtype=np.uint8)
    if labels is None:
        np.savez(path, images)
    else:
        np.savez(path, images, np.asarray(labels))
    return path


def test_label_accuracy_counts_samples_classified_as_their_label(tmp_path):
    ref = _archive(tmp_path / "ref.npz", np.linspace(0, 250, 20).astype(int))
    levels = [10, 80, 150, 220] * 5  # quartiles 0, 1, 2, 3
    labels = [0, 1, 2, 0] * 5  # three of every four right
    sample = _archive(tmp_path / "s.npz", levels, labels)
    result = evaluate(ref, sample, _BrightnessClassifier("quartiles"), EvalSettings(),
                      bootstrap=BootstrapSettings(20)).to_dict()  # fmt: skip
    assert result["label_accuracy"] == pytest.approx(0.75)
    lo, hi = result["ci95"]["label_accuracy"]
    assert 0.4 <= lo <= 0.75 <= hi <= 1.0
    assert "quartiles" in result["metric_names"]["label_accuracy"]
    # No label space, or no labels: no label accuracy.
    plain = evaluate(ref, sample, _BrightnessClassifier(None), EvalSettings()).to_dict()
    assert "label_accuracy" not in plain
    unlabelled = _archive(tmp_path / "u.npz", levels)
    assert "label_accuracy" not in evaluate(ref, unlabelled, _BrightnessClassifier("quartiles"), EvalSettings()).to_dict()


def test_labels_outside_the_label_space_are_refused(tmp_path):
    ref = _archive(tmp_path / "ref.npz", np.linspace(0, 250, 20).astype(int))
    sample = _archive(tmp_path / "s.npz", [10] * 8, [0, 1, 2, 3, 4, 0, 0, 0])
    with pytest.raises(InputError, match=r"labels must lie in \[0, 4\)"):
        evaluate(ref, sample, _BrightnessClassifier("quartiles"), EvalSettings()).to_dict()
