"""The reference's k-NN radii are cached beside its features: same numbers, recomputed when anything is off."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest

from benchmark.evaluation import evaluate as evaluate_mod
from benchmark.evaluation.cache import CacheKey, FeatureCache
from benchmark.evaluation.demo import gratings, write_archive
from benchmark.evaluation.distances import PRArithmetic
from benchmark.evaluation.evaluate import evaluate
from benchmark.evaluation.metrics import manifold_radii
from benchmark.evaluation.settings import EvalSettings
from benchmark.extractors.base import ExtractorOptions
from benchmark.extractors.registry import build_extractor
from benchmark.io.npz import inspect_archive
from tests.evaluation.cachefiles import reseal


@pytest.fixture()
def setup(tmp_path):
    ref = write_archive(tmp_path / "ref.npz", gratings(40, 16, seed=3))
    sample = write_archive(tmp_path / "sample.npz", gratings(30, 16, seed=4, contrast=0.6))
    extractor = build_extractor("random-cnn-test", ExtractorOptions())
    return ref, sample, extractor, FeatureCache(tmp_path / "cache")


def _radii_files(cache: FeatureCache):
    return sorted((cache.root / "radii").glob("*.h5"))


def test_cached_radii_give_the_uncached_numbers(setup, monkeypatch):
    ref, sample, extractor, cache = setup
    plain = evaluate(ref, sample, extractor, EvalSettings()).to_dict()
    first = evaluate(ref, sample, extractor, EvalSettings(), cache).to_dict()
    assert len(_radii_files(cache)) == 1
    calls = {"n": 0}
    real = evaluate_mod.manifold_radii

    def counting(*args, **kwargs):
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate_mod, "manifold_radii", counting)
    second = evaluate(ref, sample, extractor, EvalSettings(), cache).to_dict()
    assert calls["n"] == 0  # the reference's radii came from the cache
    for key in ("precision", "recall"):
        assert plain[key] == first[key] == second[key]
    # fp32 distances are another arithmetic: another entry.
    evaluate(ref, sample, extractor, EvalSettings(pr_arithmetic=PRArithmetic.FP32), cache).to_dict()
    assert len(_radii_files(cache)) == 2 and calls["n"] == 1


def test_a_tampered_radii_file_is_recomputed(setup):
    ref, sample, extractor, cache = setup
    expected = evaluate(ref, sample, extractor, EvalSettings(), cache).to_dict()
    (path,) = _radii_files(cache)
    with h5py.File(path, "r+") as f:
        f["radii"][0] = np.nan
    reseal(path)  # the checksum vouches for the edit: the radii's own checks still refuse them
    assert evaluate(ref, sample, extractor, EvalSettings(), cache).to_dict()["recall"] == expected["recall"]
    info = inspect_archive(ref)
    key = CacheKey.of(hashlib.sha256(ref.read_bytes()).hexdigest(), info.num_images, extractor.info)
    stored = cache.load_radii(key, 3, "gpu-tf")
    assert stored is not None and np.isfinite(stored).all()
    with h5py.File(path, "r+") as f:
        f.attrs["k"] = 5  # written for another k: not trusted
    reseal(path)  # even with a checksum that matches the edited file
    assert cache.load_radii(key, 3, "gpu-tf") is None and not path.exists()


def test_radii_of_the_wrong_length_are_refused():
    import torch

    from benchmark.evaluation.metrics import precision_recall

    rng = np.random.default_rng(0)
    ref, sample = rng.normal(size=(20, 4)), rng.normal(size=(10, 4))
    radii = manifold_radii(torch.as_tensor(ref, dtype=torch.float32)).numpy()
    assert precision_recall(ref, sample, ref_radii=radii) == precision_recall(ref, sample)
    with pytest.raises(ValueError, match="reference radii"):
        precision_recall(ref, sample, ref_radii=radii[:-1])
