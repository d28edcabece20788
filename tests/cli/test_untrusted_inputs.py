"""`evaluate`, `report compare`, `report render` and `reference build` trust nothing on disk: every bad input or
output path is one line naming the file and the problem, exit code 2, nothing written, and no work done before the
check."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchmark.cli import main
from benchmark.evaluation.demo import gratings, write_archive
from benchmark.extractors.random_cnn import RandomCNNExtractor

EXTRACTOR = ["--extractor", "random-cnn-test"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    return write_archive(d / "ref.npz", gratings(40, 16, seed=1)), write_archive(d / "sample.npz", gratings(30, 16, seed=2))


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes (symlinks by their target), to prove nothing was written."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p)] = os.readlink(p).encode()
        elif p.is_file():
            out[str(p)] = p.read_bytes()
        else:
            out[str(p)] = b"<dir>"
    return out


def assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any feature extraction starts."""
    from benchmark.evaluation import evaluate

    def refuse(*args, **kwargs):
        raise AssertionError("features were extracted before the inputs were checked")

    monkeypatch.setattr(evaluate, "extract_features", refuse)


def invoke(args):
    return CliRunner().invoke(main, args)


# ----------------------------------------------------------------------------------------------------------------
# Stored statistics.


def _ref_with_stats(tmp_path, pair, key, make):
    ref, _ = pair
    feats = RandomCNNExtractor().extract(np.load(ref)["arr_0"])
    stats = {"mu": feats.pool.mean(0), "sigma": np.cov(feats.pool, rowvar=False),
             "mu_s": feats.spatial.mean(0), "sigma_s": np.cov(feats.spatial, rowvar=False)}  # fmt: skip
    stats[key] = make(stats[key])
    path = tmp_path / "ref_stats.npz"
    np.savez(path, arr_0=np.load(ref)["arr_0"], **stats)
    return path


def _indefinite(s):
    u = np.full(len(s), 1 / np.sqrt(len(s)))
    return np.trace(s) / len(s) * (np.eye(len(s)) - 2 * np.outer(u, u))


@pytest.mark.parametrize(
    "key,make,message",
    [
        ("sigma", lambda s: -s, "stored sigma is not a covariance"),
        ("sigma", lambda s: s + np.triu(np.full_like(s, 0.1 * np.abs(s).max()), 1), "stored sigma is not symmetric"),
        ("sigma", lambda s: s / np.abs(s).max() * 1e308, "stored sigma has entries up to 1e+308"),
        ("sigma_s", _indefinite, "stored sigma_s is not positive semi-definite"),
        ("sigma_s", lambda s: s.astype(np.float32) * np.float32(-1), "stored sigma_s is not a covariance"),
        ("mu_s", lambda m: np.full(m.shape, 1e300), "stored mu_s has entries up to 1e+300"),
    ],
)
def test_invalid_stored_statistics_are_refused(tmp_path, pair, no_work, key, make, message):
    ref = _ref_with_stats(tmp_path, pair, key, make)
    out = tmp_path / "result.json"
    result = invoke(["evaluate", str(ref), str(pair[1]), *EXTRACTOR, "--output", str(out), "--quiet",
                     "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    assert_one_line_error(result, str(ref), message)
    assert not out.exists() and not (tmp_path / "cache").exists()


def test_identical_archives_give_fid_zero(tmp_path, pair):
    ref, _ = pair
    result = invoke(["evaluate", str(ref), str(ref), *EXTRACTOR, "--format", "json", "--quiet",
                     "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["fid"] == 0.0 and metrics["sfid"] == 0.0


# ----------------------------------------------------------------------------------------------------------------
# Output paths that are inputs (also through symlinks and hard links).


def _copy_pair(tmp_path, pair):
    d = tmp_path / "in"
    d.mkdir()
    ref, sample = d / "ref.npz", d / "sample.npz"
    ref.write_bytes(pair[0].read_bytes())
    sample.write_bytes(pair[1].read_bytes())
    return ref, sample


def _alias(tmp_path, target: Path, how: str) -> Path:
    if how == "same":
        return target
    if how == "dotted":
        return target.parent / "sub" / ".." / target.name
    alias = tmp_path / f"alias-{how}.txt"
    if how == "symlink":
        alias.symlink_to(target)
    else:
        os.link(target, alias)
    return alias


@pytest.mark.parametrize("how", ["same", "dotted", "symlink", "hardlink"])
@pytest.mark.parametrize("which", ["ref", "sample"])
def test_evaluate_output_naming_an_input_is_refused(tmp_path, pair, no_work, which, how):
    ref, sample = _copy_pair(tmp_path, pair)
    output = _alias(tmp_path, ref if which == "ref" else sample, how)
    before = snapshot(tmp_path)
    result = invoke(["evaluate", str(ref), str(sample), *EXTRACTOR, "--output", str(output), "--quiet",
                     "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    assert_one_line_error(result, str(output), "--output")
    assert snapshot(tmp_path) == before


def _run_dir(tmp_path, sample, config_text='{"kind": "diffusion"}'):
    run = tmp_path / "runs" / "tiny-0123456789"
    (run / "samples" / "t").mkdir(parents=True)
    (run / "config.json").write_text(config_text)
    write_archive(run / "samples" / "t" / "samples_30x16x16x3.npz", np.load(sample)["arr_0"])
    return run


def test_evaluate_run_directory_output_naming_its_archive_is_refused(tmp_path, pair, no_work):
    run = _run_dir(tmp_path, pair[1])
    archive = run / "samples" / "t" / "samples_30x16x16x3.npz"
    before = snapshot(tmp_path)
    result = invoke(["evaluate", str(pair[0]), str(run), *EXTRACTOR, "--output", str(archive), "--quiet",
                     "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    assert_one_line_error(result, str(archive), "--output")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name,how,which", [("compare.md", "symlink", 1), ("compare.csv", "hardlink", 0),
                                            ("compare.md", "hardlink", 2)])  # fmt: skip
def test_compare_outputs_naming_an_input_are_refused(tmp_path, pair, no_work, monkeypatch, name, how, which):
    monkeypatch.setenv("ADMBENCH_CACHE", str(tmp_path / "cache"))
    ref, sample = _copy_pair(tmp_path, pair)
    other = tmp_path / "in" / "other.npz"
    other.write_bytes(sample.read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    target = (ref, sample, other)[which]
    if how == "symlink":
        (out / name).symlink_to(target)
    else:
        os.link(target, out / name)
    before = snapshot(tmp_path)
    result = invoke(["report", "compare", str(ref), str(sample), str(other), *EXTRACTOR, "--out", str(out)])
    assert_one_line_error(result, str(out / name), "--out")
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------------------------------------------
# Unwritable outputs and cache directories: refused before any work.


def _unwritable(tmp_path, where: str) -> Path:
    blocker = tmp_path / "plain.txt"
    blocker.write_text("a regular file")
    return {
        "under_file": blocker / "result.json",
        "under_file_deep": blocker / "a" / "b" / "result.json",
        "proc_version": Path("/proc/version"),
        "under_proc_version": Path("/proc/version/result.json"),
        "sys": Path("/sys/admbench-result.json"),
    }[where]


@pytest.mark.parametrize("where", ["under_file", "under_file_deep", "proc_version", "under_proc_version", "sys"])
def test_unwritable_output_is_refused_before_any_work(tmp_path, pair, no_work, where):
    output = _unwritable(tmp_path, where)
    before = snapshot(tmp_path)
    result = invoke(["evaluate", str(pair[0]), str(pair[1]), *EXTRACTOR, "--output", str(output), "--quiet",
                     "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    assert_one_line_error(result, str(output))
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("where", ["under_file", "under_file_deep", "under_proc_version", "sys"])
def test_unwritable_cache_dir_is_refused_before_any_work(tmp_path, pair, no_work, where):
    cache = _unwritable(tmp_path, where).with_suffix("")
    before = snapshot(tmp_path)
    result = invoke(["evaluate", str(pair[0]), str(pair[1]), *EXTRACTOR, "--quiet", "--cache-dir", str(cache)])
    assert_one_line_error(result, str(cache))
    assert snapshot(tmp_path) == before


def test_unwritable_run_metrics_directory_is_refused_before_any_work(tmp_path, pair, no_work):
    run = _run_dir(tmp_path, pair[1])
    (run / "metrics").write_text("not a directory")
    before = snapshot(tmp_path)
    result = invoke(["evaluate", str(pair[0]), str(run), *EXTRACTOR, "--quiet", "--cache-dir", str(tmp_path / "c")])
    assert_one_line_error(result, str(run / "metrics"))
    assert snapshot(tmp_path) == before


def test_unwritable_compare_out_is_refused_before_any_work(tmp_path, pair, no_work, monkeypatch):
    monkeypatch.setenv("ADMBENCH_CACHE", str(tmp_path / "cache"))
    out = _unwritable(tmp_path, "under_file").parent / "report"
    before = snapshot(tmp_path)
    result = invoke(["report", "compare", str(pair[0]), str(pair[1]), *EXTRACTOR, "--out", str(out)])
    assert_one_line_error(result, str(out / "compare.md"))
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------------------------------------------
# report compare: every archive checked before the first is evaluated.


@pytest.mark.parametrize("kind,message", [("notzip", "not a zip"), ("float", "dtype float32"),
                                          ("few", "at least 4"), ("missing", "file not found")])  # fmt: skip
def test_compare_refuses_a_bad_fourth_archive_before_evaluating(tmp_path, pair, no_work, monkeypatch, kind, message):
    monkeypatch.setenv("ADMBENCH_CACHE", str(tmp_path / "cache"))
    images = np.load(pair[1])["arr_0"]
    good = [write_archive(tmp_path / f"a{i}.npz", images[i:]) for i in range(3)]
    bad = tmp_path / "bad.npz"
    if kind == "notzip":
        bad.write_text("not an archive")
    elif kind == "float":
        np.savez(bad, arr_0=images.astype(np.float32))
    elif kind == "few":
        write_archive(bad, images[:3])
    before = snapshot(tmp_path)
    result = invoke(["report", "compare", str(pair[0]), *map(str, good), str(bad), *EXTRACTOR,
                     "--out", str(tmp_path / "out")])  # fmt: skip
    assert_one_line_error(result, str(bad), message)
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------------------------------------------
# Run directories and JSON.


@pytest.mark.parametrize("text,message", [('{"kind": ', "not valid JSON"), ("[" * 200_000 + "]" * 200_000, "nested"),
                                          ("[1, 2]", "must be a JSON object"),
                                          (b"\xff\xfe{}", "not UTF-8")])  # fmt: skip
def test_run_directory_with_a_malformed_config_is_refused(tmp_path, pair, no_work, text, message):
    run = _run_dir(tmp_path, pair[1])
    config = run / "config.json"
    config.write_bytes(text if isinstance(text, bytes) else text.encode())
    before = snapshot(tmp_path)
    result = invoke(["evaluate", str(pair[0]), str(run), *EXTRACTOR, "--quiet", "--cache-dir", str(tmp_path / "c")])
    assert_one_line_error(result, str(config), message)
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------------------------------------------
# reference build.


def test_reference_build_names_a_text_file_for_what_it_is(tmp_path, no_work):
    text = tmp_path / "notes.npz"
    text.write_text("just some notes\n")
    result = invoke(["reference", "build", str(text), *EXTRACTOR, "--out", str(tmp_path / "ref.npz")])
    assert_one_line_error(result, str(text), "not a zip archive")
    assert "pickled" not in result.output
    assert not (tmp_path / "ref.npz").exists()


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_reference_build_out_naming_the_dataset_is_refused(tmp_path, pair, how, monkeypatch):
    from runners import reference_build

    monkeypatch.setattr(reference_build, "compute_reference_batch",
                        lambda *a, **k: pytest.fail("statistics computed before the output was checked"))
    dataset = tmp_path / "in" / "images.npz"
    dataset.parent.mkdir()
    dataset.write_bytes(pair[1].read_bytes())
    out = _alias(tmp_path, dataset, how)
    before = snapshot(tmp_path)
    result = invoke(["reference", "build", str(dataset), *EXTRACTOR, "--num-images", "8", "--out", str(out)])
    assert_one_line_error(result, str(out), "--out")
    assert snapshot(tmp_path) == before


def test_reference_build_unwritable_out_is_refused_before_any_work(tmp_path, pair, monkeypatch):
    from runners import reference_build

    monkeypatch.setattr(reference_build, "compute_reference_batch",
                        lambda *a, **k: pytest.fail("statistics computed before the output was checked"))
    out = _unwritable(tmp_path, "under_file")
    before = snapshot(tmp_path)
    result = invoke(["reference", "build", str(pair[1]), *EXTRACTOR, "--num-images", "8", "--out", str(out)])
    assert_one_line_error(result, str(out))
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------------------------------------------
# $ADMBENCH_INCEPTION names the weights when --inception does not: the same checks, and the message says where the
# path came from.


@pytest.mark.parametrize("kind,message", [("missing", "file not found"), ("directory", "is a directory"),
                                          ("fifo", "is a FIFO"), ("empty", "empty or truncated"),
                                          ("garbage", "unrecognised file format")])  # fmt: skip
def test_weights_named_by_the_environment_are_checked(tmp_path, pair, no_work, kind, message):
    weights = tmp_path / "weights" / "inception.pth"
    weights.parent.mkdir()
    if kind == "directory":
        weights.mkdir()
    elif kind == "fifo":
        os.mkfifo(weights)
    elif kind == "empty":
        weights.write_bytes(b"")
    elif kind == "garbage":
        weights.write_bytes(np.random.default_rng(0).bytes(4096))
    before = snapshot(tmp_path)
    result = CliRunner().invoke(main, ["evaluate", *map(str, pair), "--output", str(tmp_path / "m.json"), "--quiet",
                                       "--cache-dir", str(tmp_path / "c")], env={"ADMBENCH_INCEPTION": str(weights)})  # fmt: skip
    assert_one_line_error(result, str(weights), message)
    if kind in ("missing", "directory", "fifo"):
        assert "$ADMBENCH_INCEPTION" in result.output
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------------------------------------------
# report render: the manifest and every metrics file it names are checked before anything is written.


def _reproduction(out: Path) -> Path:
    """A one-table reproduction directory written by hand: Table 3's rows, each with its metrics file."""
    from benchmark.paper import TABLE3

    slots = []
    for row in TABLE3:
        rel = f"runs/{row.key}/metrics/m.json"
        (out / rel).parent.mkdir(parents=True)
        (out / rel).write_text(json.dumps({"fid": 12.5, "precision": 0.5, "recall": 0.5}), encoding="utf-8")
        slots.append({"table": "3", "row": row.key, "column": "fid", "seed": 0, "metrics": rel, "samples": None})
    manifest = {"format": 1, "tables": ["3"], "seeds": 1, "preset": {"name": "hand"}, "slots": slots}
    (out / "reproduce.json").write_text(json.dumps(manifest), encoding="utf-8")
    return out / slots[0]["metrics"]


def test_a_hand_written_reproduction_renders(tmp_path):
    _reproduction(tmp_path)
    result = invoke(["report", "render", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "12.50" in (tmp_path / "report" / "table3.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("damage,message", [
    ("metrics-json", "not valid JSON"), ("metrics-list", "must be a JSON object"), ("metrics-fid", "numeric 'fid'"),
    ("metrics-dir", "is a directory"), ("metrics-bytes", "not UTF-8"), ("slot-list", "slot 0"),
    ("slot-escape", "slot 0"), ("slot-seed", "slot 0"),
    ("manifest-bytes", "not UTF-8"),
])  # fmt: skip
def test_render_refuses_a_damaged_reproduction(tmp_path, damage, message):
    metrics = _reproduction(tmp_path)
    manifest_path = tmp_path / "reproduce.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    named = metrics
    if damage == "metrics-json":
        metrics.write_text('{"fid": ', encoding="utf-8")
    elif damage == "metrics-list":
        metrics.write_text("[12.5]", encoding="utf-8")
    elif damage == "metrics-fid":
        metrics.write_text('{"fid": "12.5"}', encoding="utf-8")
    elif damage == "metrics-dir":
        metrics.unlink()
        metrics.mkdir()
    elif damage == "metrics-bytes":
        metrics.write_bytes(b"\xff\xfe{}")
    elif damage == "manifest-bytes":
        manifest_path.write_bytes(b"\xff" + manifest_path.read_bytes())
    else:
        slot = manifest["slots"][0]
        if damage == "slot-list":
            manifest["slots"][0] = list(slot.values())
        elif damage == "slot-escape":
            slot["metrics"] = "../elsewhere/m.json"
        elif damage == "slot-seed":
            slot["seed"] = "0"
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    if damage.startswith(("slot", "manifest")):
        named = manifest_path
    before = snapshot(tmp_path)
    result = invoke(["report", "render", str(tmp_path)])
    assert_one_line_error(result, str(named), message)
    assert snapshot(tmp_path) == before and not (tmp_path / "report").exists()


# ----------------------------------------------------------------------------------------------------------------
# FIFOs and devices are never opened (run in a child process with a time and memory limit: before the fix, a FIFO
# blocked forever and /dev/zero was read until memory ran out).


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))


def run_cli(args, cwd, cache: Path, timeout=120):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "ADMBENCH_CACHE": str(cache)}  # fmt: skip
    try:
        proc = subprocess.run([sys.executable, "-c", "from benchmark.cli import main; main()", *args], cwd=cwd,
                              env=env, capture_output=True, text=True, timeout=timeout, preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        pytest.fail(f"admbench {' '.join(args)} did not finish in {timeout} s (it blocked on its input)")
    return proc


@pytest.mark.parametrize(
    "command,special",
    [
        ("evaluate-sample", "fifo"),
        ("evaluate-sample", "/dev/zero"),
        ("evaluate-ref", "fifo"),
        ("evaluate-ref", "/dev/zero"),
        ("evaluate-inception", "fifo"),
        ("compare-archive", "fifo"),
        ("compare-ref", "/dev/zero"),
        ("reference-dataset", "fifo"),
    ],
)
def test_fifos_and_devices_are_refused_without_opening_them(tmp_path, pair, command, special):
    if special == "fifo":
        path = tmp_path / "pipe.npz"
        os.mkfifo(path)
    else:
        path = Path(special)
    ref, sample = map(str, pair)
    cache = ["--cache-dir", str(tmp_path / "cache")]
    args = {
        "evaluate-sample": ["evaluate", ref, str(path), *EXTRACTOR, "--quiet", *cache],
        "evaluate-ref": ["evaluate", str(path), sample, *EXTRACTOR, "--quiet", *cache],
        "evaluate-inception": ["evaluate", ref, sample, "--inception", str(path), "--quiet", *cache],
        "compare-archive": ["report", "compare", ref, sample, str(path), *EXTRACTOR],
        "compare-ref": ["report", "compare", str(path), sample, *EXTRACTOR],
        "reference-dataset": ["reference", "build", str(path), *EXTRACTOR, "--out", str(tmp_path / "r.npz")],
    }[command]
    env_cache = tmp_path / "env-cache"
    proc = run_cli(args, tmp_path, env_cache)
    lines = [line for line in proc.stderr.strip().splitlines() if line]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], proc.stderr
    assert ("FIFO" if special == "fifo" else "character device") in lines[0]
    assert not env_cache.exists() and not (tmp_path / "cache").exists() and not (tmp_path / "r.npz").exists()
