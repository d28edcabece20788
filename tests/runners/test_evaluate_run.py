"""evaluate_run_archive: metrics/<tag>.json with run provenance, reuse of a matching result, bootstrap interval."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from benchmark.diffusion.respacing import Respacing
from benchmark.diffusion.sampling import Sampler
from benchmark.errors import InputError
from benchmark.evaluation.evaluator import EvalOptions, Evaluator, bootstrap_settings, build_evaluator
from benchmark.evaluation.metrics import frechet_distance
from benchmark.extractors.base import ExtractorOptions
from benchmark.extractors.random_cnn import RandomCNNExtractor
from benchmark.extractors.registry import build_extractor
from benchmark.io.atomic import write_json_atomic
from benchmark.io.npz import inspect_archive
from runners.config import SampleConfig, run_config_from_dict
from runners.evaluate_run import evaluate_run_archive
from runners.rundir import RunDir, sample_tag

from tests.runners.conftest import tiny_run_dict

pytestmark = pytest.mark.usefixtures("one_thread")

EXTRACTOR = "random-cnn-test"


def _evaluator(tmp_path: Path, name: str = EXTRACTOR, bootstrap: int = 0) -> Evaluator:
    return build_evaluator(EvalOptions(extractor=name, cache_dir=tmp_path / "cache",
                                       bootstrap=bootstrap_settings(bootstrap)))  # fmt: skip


@pytest.fixture()
def run_with_archive(tiny_npz, tmp_path):
    config = run_config_from_dict(tiny_run_dict(tiny_npz))
    run = RunDir.for_record(config, tmp_path).create(config).path
    sample_config = SampleConfig(milestone=4, num_samples=12, sampler=Sampler.DDIM, respacing=Respacing.parse("ddim5"),
                                 ema_rate=0.9)  # fmt: skip
    out = run / "samples" / sample_tag(sample_config)
    archive = out / "samples_12x8x8x3.npz"
    out.mkdir(parents=True)
    rng = np.random.default_rng(1)
    np.savez(archive, rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8))
    write_json_atomic(out / "sample.json", {"sample_config": sample_config.to_dict(), "milestone": 4,
                                            "tag": sample_tag(sample_config)})  # fmt: skip
    ref = tmp_path / "ref.npz"
    np.savez(ref, rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8))
    return config, run, archive, ref, sample_config


def test_metrics_file_holds_results_and_provenance(run_with_archive, tmp_path):
    config, run, archive, ref, sample_config = run_with_archive
    result = evaluate_run_archive(run, archive, ref, sample_tag(sample_config), _evaluator(tmp_path))
    path = run / "metrics" / f"{sample_tag(sample_config)}.json"
    assert json.loads(path.read_text()) == json.loads(json.dumps(result))
    assert result["run"]["hash"] == run.name[-10:] and result["run"]["config"] == config.to_dict()
    assert result["sample_config"] == sample_config.to_dict() and result["milestone"] == 4
    assert result["extractor"]["name"] == EXTRACTOR and result["extractor"]["weights_sha256"]
    assert result["sample"]["num_images"] == 12 and "ci95" not in result and "bootstrap" not in result

    # FID against an independent computation from the extractor's features (reference stats from its images).
    extractor = build_extractor(EXTRACTOR, ExtractorOptions())
    with np.load(archive) as s, np.load(ref) as r:
        fs, fr = extractor.extract(s["arr_0"]).pool.astype(np.float64), extractor.extract(r["arr_0"]).pool.astype(np.float64)
    expected = frechet_distance(fs.mean(0), np.cov(fs, rowvar=False), fr.mean(0), np.cov(fr, rowvar=False))
    assert result["fid"] == pytest.approx(expected, rel=1e-6)

    # A matching result is returned as is; another archive is evaluated afresh.
    stamp = path.stat().st_mtime_ns
    assert evaluate_run_archive(run, archive, ref, sample_tag(sample_config), _evaluator(tmp_path)) == result
    assert path.stat().st_mtime_ns == stamp
    np.savez(archive, np.random.default_rng(2).integers(0, 256, (12, 8, 8, 3), dtype=np.uint8))
    again = evaluate_run_archive(run, archive, ref, sample_tag(sample_config), _evaluator(tmp_path))
    assert again["sample"]["fingerprint"] != result["sample"]["fingerprint"]

    # Bootstrap interval: the percentile interval of FIDs of resampled sample features, centred on the full-set
    # FID (an independent loop that draws one resample at a time from the same seed).
    boot = evaluate_run_archive(run, archive, ref, "boot", _evaluator(tmp_path, bootstrap=25))
    with np.load(archive) as s:
        fs = extractor.extract(s["arr_0"]).pool.astype(np.float64)
    mu, sigma = fr.mean(0), np.cov(fr, rowvar=False)
    rng = np.random.default_rng(0)
    values = []
    for _ in range(25):
        xb = fs[rng.integers(0, len(fs), size=len(fs))]
        values.append(frechet_distance(xb.mean(0), np.cov(xb, rowvar=False), mu, sigma))
    full = frechet_distance(fs.mean(0), np.cov(fs, rowvar=False), mu, sigma)
    lo, hi = np.quantile(np.array(values) - np.mean(values) + full, [0.025, 0.975])
    assert boot["ci95"]["fid"] == pytest.approx([lo, hi], rel=1e-6) and lo <= boot["fid"] <= hi
    assert boot["bootstrap"]["resamples"] == 25 and boot["bootstrap"]["num_samples"] == 12
    assert set(boot["ci95"]) == {"fid", "inception_score", "precision", "recall"}  # no label space: no accuracy
    assert all(len(v) == 25 for v in boot["bootstrap"]["replicates"].values())


def test_a_result_of_other_extractor_weights_is_computed_again(run_with_archive, tmp_path):
    """Same extractor name, other weights (another seed of the test CNN): the stored file is not reused."""
    _, run, archive, ref, sample_config = run_with_archive
    tag = sample_tag(sample_config)
    first = evaluate_run_archive(run, archive, ref, tag, _evaluator(tmp_path))
    built = _evaluator(tmp_path)
    other = dataclasses.replace(built, extractor=RandomCNNExtractor(seed=1))
    assert other.extractor.info.name == first["extractor"]["name"]
    again = evaluate_run_archive(run, archive, ref, tag, other)
    assert again["extractor"]["weights_sha256"] == other.extractor.info.weights_sha256
    assert again["extractor"]["weights_sha256"] != first["extractor"]["weights_sha256"]
    assert again["fid"] != first["fid"]
    assert json.loads((run / "metrics" / f"{tag}.json").read_text()) == json.loads(json.dumps(again))


def test_bad_arguments_are_input_errors(run_with_archive, tmp_path):
    _, run, archive, ref, _ = run_with_archive
    with pytest.raises(InputError, match="not a run directory"):
        evaluate_run_archive(tmp_path / "nowhere", archive, ref, "x", _evaluator(tmp_path))
    with pytest.raises(InputError, match="tag"):
        evaluate_run_archive(run, archive, ref, "../x", _evaluator(tmp_path))
    with pytest.raises(InputError, match="unknown feature extractor"):
        evaluate_run_archive(run, archive, ref, "x", _evaluator(tmp_path, "no-such-extractor"))


def _solve_gf2(vectors: list[int], target: int) -> int:
    """A set of `vectors` (as a bit mask of their indices) whose XOR is `target`."""
    pivots: dict[int, tuple[int, int]] = {}  # leading bit -> (vector, the indices it combines)
    for i, v in enumerate(vectors):
        m = 1 << i
        while v and v.bit_length() - 1 in pivots:
            pv, pm = pivots[v.bit_length() - 1]
            v, m = v ^ pv, m ^ pm
        if v:
            pivots[v.bit_length() - 1] = (v, m)
    chosen = 0
    while target:
        pv, pm = pivots[target.bit_length() - 1]
        target, chosen = target ^ pv, chosen ^ pm
    return chosen


def _other_images_same_crc(archive: Path) -> None:
    """Change the last images of `archive` in place, then four more bytes so that arr_0.npy keeps its CRC-32 (CRC-32
    is affine over GF(2)): another file whose zip directory, sizes and CRCs are those of the old one."""
    blob = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        member = zf.read("arr_0.npy")
    start = blob.find(member)
    assert start >= 0 and blob.find(member, start + 1) == -1  # stored, not deflated: the bytes appear as they are
    data = bytearray(member)
    data[-100:-4] = bytes(255 - b for b in data[-100:-4])
    data[-4:] = bytes(4)
    base = zlib.crc32(bytes(data))
    flips = []
    for bit in range(32):
        flipped = bytearray(data)
        flipped[len(data) - 4 + bit // 8] ^= 1 << (bit % 8)
        flips.append(zlib.crc32(bytes(flipped)) ^ base)
    chosen = _solve_gf2(flips, base ^ zlib.crc32(member))
    for bit in range(32):
        if chosen >> bit & 1:
            data[len(data) - 4 + bit // 8] ^= 1 << (bit % 8)
    assert zlib.crc32(bytes(data)) == zlib.crc32(member) and data != member
    blob[start : start + len(member)] = data
    archive.write_bytes(bytes(blob))


@pytest.mark.parametrize("changed", ["sample", "reference"])
def test_an_archive_changed_under_the_same_crc_is_evaluated_again(run_with_archive, tmp_path, changed):
    _, run, archive, ref, sample_config = run_with_archive
    tag = sample_tag(sample_config)
    first = evaluate_run_archive(run, archive, ref, tag, _evaluator(tmp_path))
    path = archive if changed == "sample" else ref
    fingerprint = inspect_archive(path).fast_key
    _other_images_same_crc(path)
    assert inspect_archive(path).fast_key == fingerprint  # the zip directory cannot tell the files apart
    again = evaluate_run_archive(run, archive, ref, tag, _evaluator(tmp_path))
    assert again[changed]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() != first[changed]["sha256"]
    assert again["fid"] != first["fid"]
    assert json.loads((run / "metrics" / f"{tag}.json").read_text()) == json.loads(json.dumps(again))


@pytest.mark.parametrize("record", ["{not json", '["a list"]', "other-sha"])
def test_a_sample_record_that_is_unreadable_or_names_another_archive_is_refused(run_with_archive, tmp_path, record):
    _, run, archive, ref, sample_config = run_with_archive
    path = archive.parent / "sample.json"
    if record == "other-sha":
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "sha256": "0" * 64}))
    else:
        path.write_text(record)
    with pytest.raises(InputError) as err:
        evaluate_run_archive(run, archive, ref, sample_tag(sample_config), _evaluator(tmp_path))
    assert "sample.json" in str(err.value)
    assert not RunDir(run).metrics(sample_tag(sample_config)).exists()  # nothing written: wrong or no provenance
