"""`admbench evaluate` end to end on generated archives, with the random test extractor."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import linalg

from benchmark.cli import main
from benchmark.evaluation.demo import gratings, write_archive
from benchmark.extractors.random_cnn import RandomCNNExtractor

EXTRACTOR = ["--extractor", "random-cnn-test"]


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    d = tmp_path_factory.mktemp("archives")
    ref = write_archive(d / "ref.npz", gratings(120, 32, seed=1))
    sample = write_archive(d / "sample.npz", gratings(90, 24, seed=2, contrast=0.7, noise=20), np.arange(90) % 10)
    return ref, sample


def invoke(args, tmp_path):
    runner = CliRunner()
    return runner.invoke(main, [*args, "--cache-dir", str(tmp_path / "cache"), "--quiet"], catch_exceptions=False)


def independent_metrics(ref_path, sample_path):
    """Every number recomputed from scratch: np.load, the extractor, np.cov, scipy sqrtm, np.log, cdist-style k-NN."""
    ex = RandomCNNExtractor()
    fr = ex.extract(np.load(ref_path)["arr_0"])
    fs = ex.extract(np.load(sample_path)["arr_0"])

    def fid(a, b):
        m1, m2 = a.mean(0), b.mean(0)
        s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        c = linalg.sqrtm(s1 @ s2).real
        return float((m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(c))

    logits = fs.logits.astype(np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    is_ = float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(p.mean(0))), 1))))

    def d2(a, b):
        return ((a[:, None, :].astype(np.float64) - b[None, :, :]) ** 2).sum(-1)

    rr = np.sort(d2(fr.pool, fr.pool), 1)[:, 3]
    rs = np.sort(d2(fs.pool, fs.pool), 1)[:, 3]
    d = d2(fr.pool, fs.pool)
    return {
        "fid": fid(fs.pool, fr.pool),
        "sfid": fid(fs.spatial, fr.spatial),
        "inception_score": is_,
        "precision": float((d <= rr[:, None]).any(0).mean()),
        "recall": float((d <= rs[None, :]).any(1).mean()),
    }


def test_json_matches_independent_computation(archives, tmp_path):
    ref, sample = archives
    out = invoke(["evaluate", str(ref), str(sample), *EXTRACTOR, "--format", "json"], tmp_path)
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    expected = independent_metrics(ref, sample)
    assert result["fid"] == pytest.approx(expected["fid"], rel=1e-5)
    assert result["sfid"] == pytest.approx(expected["sfid"], rel=1e-5)
    assert result["inception_score"] == pytest.approx(expected["inception_score"], rel=1e-4)
    assert result["precision"] == pytest.approx(expected["precision"], abs=0.02)
    assert result["recall"] == pytest.approx(expected["recall"], abs=0.02)
    assert result["sample"]["num_images"] == 90 and result["reference"]["num_images"] == 120
    assert result["sample"]["resolution"] == [24, 24]
    assert result["extractor"]["name"] == "random-cnn-test"
    assert result["extractor"]["reference_inception"] is False
    assert len(result["extractor"]["weights_sha256"]) == 64
    assert "torch" in result["versions"] and "numpy" in result["versions"]
    assert "Inception" not in result["metric_names"]["fid"].split("(")[0] or "random-cnn-test" in result["metric_names"]["fid"]


def test_second_run_uses_cache_with_identical_numbers(archives, tmp_path):
    ref, sample = archives
    args = ["evaluate", str(ref), str(sample), *EXTRACTOR, "--format", "json"]
    first = json.loads(invoke(args, tmp_path).output)
    second = json.loads(invoke(args, tmp_path).output)
    assert not first["sample"]["features_from_cache"]
    assert second["sample"]["features_from_cache"] and second["reference"]["features_from_cache"]
    for k in ("fid", "sfid", "inception_score", "precision", "recall"):
        assert first[k] == second[k]


def test_corrupt_cache_is_rebuilt(archives, tmp_path):
    ref, sample = archives
    args = ["evaluate", str(ref), str(sample), *EXTRACTOR, "--format", "json"]
    first = json.loads(invoke(args, tmp_path).output)
    for f in (tmp_path / "cache" / "features").glob("*.h5"):
        f.write_bytes(b"garbage")
    again = json.loads(invoke(args, tmp_path).output)
    assert not again["sample"]["features_from_cache"]
    assert again["fid"] == first["fid"]


def test_interrupted_extraction_resumes(archives, tmp_path, monkeypatch):
    from benchmark.evaluation import extract
    from benchmark.evaluation.cache import FeatureCache

    ref, _ = archives
    monkeypatch.setattr(extract, "_CHECKPOINT_EVERY", 16)
    calls = {"n": 0}
    ex = RandomCNNExtractor()
    original = ex.extract

    def flaky(images):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(images)

    ex.extract = flaky
    cache = FeatureCache(tmp_path / "c")
    with pytest.raises(KeyboardInterrupt):
        extract.extract_features(ref, ex, 8, cache)
    assert list((tmp_path / "c" / "features").glob("*.partial/*.h5"))
    seen = []
    ex.extract = lambda images: (seen.append(len(images)), original(images))[1]
    feats, info, hit = extract.extract_features(ref, ex, 8, cache)
    assert not hit and sum(seen) == 120 - 32  # 4 batches of 8 were checkpointed before the interrupt
    full = original(np.load(ref)["arr_0"])
    np.testing.assert_allclose(feats.pool, full.pool, rtol=1e-6)
    assert not list((tmp_path / "c" / "features").glob("*.partial*"))


@pytest.mark.parametrize("fmt", ["text", "csv", "markdown"])
def test_other_formats_and_output_file(archives, tmp_path, fmt):
    ref, sample = archives
    target = tmp_path / f"out.{fmt}"
    out = invoke(["evaluate", str(ref), str(sample), *EXTRACTOR, "--format", fmt, "--output", str(target)], tmp_path)
    assert out.exit_code == 0 and out.output == ""
    text = target.read_text()
    assert "random-cnn-test" in text
    for word in ("FID", "sFID", "Precision", "Recall") if fmt != "csv" else ("fid", "sfid", "precision", "recall"):
        assert word in text


def test_stored_reference_statistics_are_used(archives, tmp_path):
    ref, sample = archives
    ex = RandomCNNExtractor()
    feats = ex.extract(np.load(ref)["arr_0"])
    mu, sigma = feats.pool.mean(0) + 1.0, np.cov(feats.pool, rowvar=False)
    mu_s, sigma_s = feats.spatial.mean(0), np.cov(feats.spatial, rowvar=False)
    ref2 = tmp_path / "ref_stats.npz"
    np.savez(ref2, arr_0=np.load(ref)["arr_0"], mu=mu, sigma=sigma, mu_s=mu_s, sigma_s=sigma_s)
    a = json.loads(invoke(["evaluate", str(ref2), str(sample), *EXTRACTOR, "--format", "json"], tmp_path).output)
    b = json.loads(invoke(["evaluate", str(ref), str(sample), *EXTRACTOR, "--format", "json"], tmp_path).output)
    assert a["reference"]["statistics"].startswith("stored")
    assert a["fid"] > b["fid"] + 1.0  # the shifted stored mean moved FID
    assert a["sfid"] == pytest.approx(b["sfid"], rel=1e-6)
    c = json.loads(
        invoke(["evaluate", str(ref2), str(sample), *EXTRACTOR, "--format", "json", "--recompute-ref-stats"],
               tmp_path).output
    )
    assert c["fid"] == pytest.approx(b["fid"], rel=1e-9)


def _bad(tmp_path, name, **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "kind,message",
    [
        ("missing", "file not found"),
        ("notzip", "not a zip"),
        ("noarr0", "no arr_0"),
        ("float", "dtype float32"),
        ("rank", "4 dimensions"),
        ("channels", "channels"),
        ("empty", "no images"),
        ("truncated", ""),
        ("nan_mu", "NaN or inf"),
        ("sigma_shape", "stored sigma has shape"),
        ("few", "at least 4"),
    ],
)
def test_bad_inputs_exit_2_with_one_line_and_no_output(archives, tmp_path, kind, message):
    ref, sample = archives
    imgs = np.load(ref)["arr_0"]
    bad_ref = None
    bad_sample = None
    if kind == "missing":
        bad_sample = tmp_path / "nope.npz"
    elif kind == "notzip":
        bad_sample = tmp_path / "x.npz"
        bad_sample.write_text("not an archive")
    elif kind == "noarr0":
        bad_sample = _bad(tmp_path, "b.npz", images=imgs)
    elif kind == "float":
        bad_sample = _bad(tmp_path, "b.npz", arr_0=imgs.astype(np.float32))
    elif kind == "rank":
        bad_sample = _bad(tmp_path, "b.npz", arr_0=imgs[0])
    elif kind == "channels":
        bad_sample = _bad(tmp_path, "b.npz", arr_0=np.concatenate([imgs, imgs[..., :1]], -1))
    elif kind == "empty":
        bad_sample = _bad(tmp_path, "b.npz", arr_0=imgs[:0])
    elif kind == "truncated":
        data = sample.read_bytes()
        bad_sample = tmp_path / "cut.npz"
        bad_sample.write_bytes(data[: len(data) * 2 // 3])
    elif kind == "nan_mu":
        d = 128
        bad_ref = _bad(tmp_path, "r.npz", arr_0=imgs, mu=np.full(d, np.nan), sigma=np.eye(d), mu_s=np.zeros(32),
                       sigma_s=np.eye(32))
    elif kind == "sigma_shape":
        bad_ref = _bad(tmp_path, "r.npz", arr_0=imgs, mu=np.zeros(128), sigma=np.eye(127), mu_s=np.zeros(32),
                       sigma_s=np.eye(32))
    elif kind == "few":
        bad_sample = _bad(tmp_path, "b.npz", arr_0=imgs[:3])
    target = tmp_path / "result.json"
    r = bad_ref or ref
    s = bad_sample or sample
    runner = CliRunner()
    out = runner.invoke(
        main,
        ["evaluate", str(r), str(s), *EXTRACTOR, "--format", "json", "--output", str(target),
         "--cache-dir", str(tmp_path / "cache"), "--quiet"],
    )
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in out.output
    assert message in lines[0]
    bad_path = str(bad_ref or bad_sample)
    assert bad_path in lines[0]
    assert not target.exists()
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("*.h5"))
    assert not list(tmp_path.rglob("*.tmp*"))


def test_demo_runs(tmp_path):
    out = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "demo"), "--quiet"], catch_exceptions=False)
    assert out.exit_code == 0
    assert "FID (random-cnn-test)" in out.output
    assert "not comparable" in out.output


def test_unknown_extractor_is_a_clean_error(archives, tmp_path):
    ref, sample = archives
    out = CliRunner().invoke(main, ["evaluate", str(ref), str(sample), "--extractor", "nope", "--quiet"])
    assert out.exit_code == 2 and "unknown feature extractor" in out.output




def fake_run(tmp_path, name, tag, sample):
    """A minimal run directory holding SAMPLE's images as its one finished archive under samples/TAG/."""
    run = tmp_path / "runs" / name
    (run / "samples" / tag).mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"kind": "diffusion"}))
    write_archive(run / "samples" / tag / "samples_90x24x24x3.npz", np.load(sample)["arr_0"])
    return run


def test_run_directory_is_evaluated_into_metrics_files(archives, tmp_path):
    ref, sample = archives
    run = fake_run(tmp_path, "tiny-0123456789", "step0000010-ddim5", sample)
    out = invoke(["evaluate", str(ref), str(run), *EXTRACTOR, "--format", "json"], tmp_path)
    assert out.exit_code == 0, out.output
    stored = json.loads((run / "metrics" / "step0000010-ddim5.json").read_text())
    direct = json.loads(invoke(["evaluate", str(ref), str(sample), *EXTRACTOR, "--format", "json"], tmp_path).output)
    assert stored["fid"] == direct["fid"] and stored["recall"] == direct["recall"]
    assert stored["run"]["hash"] == "0123456789"
    not_a_run = tmp_path / "plain_dir"
    not_a_run.mkdir()
    bad = invoke(["evaluate", str(ref), str(not_a_run), *EXTRACTOR], tmp_path)
    assert bad.exit_code == 2 and "not a run directory" in bad.output


@pytest.mark.parametrize("problem", ["too-few-images", "record-of-another-archive"])
def test_a_run_directory_is_checked_whole_before_any_metrics_file_is_written(archives, tmp_path, problem):
    ref, sample = archives
    run = fake_run(tmp_path, "tiny-1234512345", "a-good", sample)
    bad = run / "samples" / "b-bad"
    bad.mkdir()
    images = np.load(sample)["arr_0"]
    if problem == "too-few-images":  # precision/recall with k=3 needs at least 4
        write_archive(bad / "samples_3x24x24x3.npz", images[:3])
        expected = "holds 3 images"
    else:
        write_archive(bad / "samples_90x24x24x3.npz", images[::-1].copy())
        (bad / "sample.json").write_text(json.dumps({"sha256": "0" * 64}))
        expected = "sample record describes another archive"
    out = invoke(["evaluate", str(ref), str(run), *EXTRACTOR], tmp_path)
    assert out.exit_code == 2 and expected in out.output
    assert not (run / "metrics" / "a-good.json").exists()  # the sorted-first, valid archive was not evaluated


def test_run_directory_evaluation_uses_the_given_inception_file(archives, tmp_path):
    ref, sample = archives
    run = fake_run(tmp_path, "tiny-abcdefabcd", "t", sample)
    weights = tmp_path / "my_inception.pb"
    weights.write_bytes(b"not a graph")
    out = invoke(["evaluate", str(ref), str(run), "--extractor", "inception-v3", "--inception", str(weights)], tmp_path)
    assert out.exit_code == 2 and str(weights) in out.output


def test_run_directory_honours_backend_and_refuses_unsupported_flags(archives, tmp_path):
    ref, sample = archives
    run = fake_run(tmp_path, "tiny-fedcbafedc", "t", sample)
    # The backend reaches the extractor (the random test CNN has no tf backend, so it is refused, not ignored).
    out = invoke(["evaluate", str(ref), str(run), *EXTRACTOR, "--backend", "tf"], tmp_path)
    assert out.exit_code == 2 and "no 'tf' backend" in out.output
    for flag, args in (("--pr-arithmetic", ["--pr-arithmetic", "fp32"]), ("--recompute-ref-stats", ["--recompute-ref-stats"])):
        out = invoke(["evaluate", str(ref), str(run), *EXTRACTOR, *args], tmp_path)
        assert out.exit_code == 2 and flag in out.output and "run directory" in out.output
    assert not (run / "metrics").exists()
    out = invoke(["evaluate", str(ref), str(run), *EXTRACTOR, "--no-cache"], tmp_path)
    assert out.exit_code == 0 and (run / "metrics" / "t.json").is_file()
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.h5"))


def test_compile_flag_is_checked_and_reaches_the_extractor(archives, tmp_path):
    ref, sample = archives
    out = invoke(["evaluate", str(ref), str(sample), *EXTRACTOR, "--compile"], tmp_path)
    assert out.exit_code == 2 and "torch.compile" in out.output
    out = invoke(["evaluate", str(ref), str(sample), "--backend", "tf", "--compile"], tmp_path)
    assert out.exit_code == 2 and "torch backend only" in out.output
