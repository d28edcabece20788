"""`admbench evaluate` and `admbench demo`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import click

from benchmark.cli.options import device_option, metric_options
from benchmark.evaluation.distances import PRArithmetic

if TYPE_CHECKING:
    from benchmark.evaluation.evaluator import EvalOptions
    from benchmark.evaluation.result import EvalResult


def _evaluate_file(ref: Path, sample: Path, options: EvalOptions, quiet: bool) -> EvalResult:
    """Check the inputs, join torchrun's process group if there is one, and evaluate; for `evaluate` and `demo`."""
    from benchmark.device import rank_device
    from benchmark.distributed import init_from_env
    from benchmark.evaluation.evaluator import build_evaluator, check_cache_dir
    from benchmark.io.npz import inspect_archive
    from benchmark.progress import make_reporter

    # Validate both archives and the cache directory before any expensive work.
    inspect_archive(ref)
    inspect_archive(sample)
    check_cache_dir(options)
    world = init_from_env(options.device)
    options = dataclasses.replace(options, device=rank_device(options.device, world.size))
    return build_evaluator(options).evaluate(ref, sample, make_reporter(quiet or not world.is_main))


def _check_output(output: Path | None, protected: list[Path]) -> None:
    """--output must be writable and none of the files the command reads or writes; checked before any work."""
    from benchmark.io.outputs import check_output_file, refuse_overwrite

    if output is not None:
        refuse_overwrite(output, protected, "--output")
        check_output_file(output, "--output")


def _emit(result: dict, fmt: str, output: Path | None) -> None:
    from benchmark.evaluation.formatting import render
    from benchmark.io.atomic import write_text_atomic

    text = render(result, fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_text_atomic(output, text)


_common_options = [
    click.option("--format", "fmt", type=click.Choice(["text", "json", "csv", "markdown"]), default="text",
                 show_default=True, help="Output format."),
    click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
                 help="Write the result to FILE (atomically) instead of stdout."),
    device_option("cpu", "torch device: cpu, cuda, cuda:1..."),
    click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Images per batch."),
    click.option("--quiet", is_flag=True, help="No progress output."),
    click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
                 help="Feature cache and weights directory [default: $ADMBENCH_CACHE or ~/.cache/admbench]."),
    click.option("--no-cache", is_flag=True, help="Do not read or write the feature cache."),
]


def _with_common(fn):
    for option in reversed(_common_options):
        fn = option(fn)
    return fn


@click.command()
@click.argument("ref", type=click.Path(path_type=Path))
@click.argument("sample", type=click.Path(path_type=Path))
@click.option("--extractor", default="inception-v3", show_default=True, metavar="NAME",
              help="Feature extractor (see `admbench extractors`).")
@click.option("--backend", type=click.Choice(["torch", "tf"]), default="torch", show_default=True,
              help="Inception backend: TF-exact PyTorch port, or the TensorFlow graph itself (extra `tf`).")
@click.option("--inception", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="PATH",
              help="Inception weights file (.pb, .pth, TorchScript .pt or converted .safetensors) "
                   "[default: $ADMBENCH_INCEPTION, else the cache directory].")
@click.option("--recompute-ref-stats", is_flag=True,
              help="Ignore mu/sigma stored in REF and compute them from REF's images.")
@click.option("--pr-arithmetic", type=click.Choice([a.value for a in PRArithmetic]), default=PRArithmetic.GPU_TF.value,
              show_default=True,
              help="Precision/recall distance arithmetic: the reference evaluator's fp16 on TensorFlow-GPU (the "
                   "paper's numbers), its bit-exact fp16 on TensorFlow-CPU, or exact fp32.")
@click.option("--compile", "compile_network", is_flag=True,
              help="torch.compile the Inception network body (torch backend; pays off on GPUs for large archives; "
                   "recorded as backend `torch+compile`).")
@metric_options
@_with_common
def evaluate(
    ref: Path, sample: Path, extractor: str, backend: str, inception: Path | None, recompute_ref_stats: bool,
    pr_arithmetic: str, compile_network: bool, metric_names: str, kid_subsets: int, kid_subset_size: int,
    fmt: str, output: Path | None, device: str, batch_size: int, quiet: bool, cache_dir: Path | None,
    no_cache: bool,
) -> None:
    """Inception Score, FID, sFID, precision and recall of SAMPLE against REF (.npz archives, `arr_0` uint8 NHWC).

    SAMPLE may also be a run directory: every finished archive under RUN/samples/<tag>/ is evaluated and its
    result written to RUN/metrics/<tag>.json (with the run's config, seeds and sampler settings, and the extras
    --metrics asks for; a file computed from the same archive bytes, extractor weights and --metrics is kept).

    \b
    Examples:
      admbench evaluate VIRTUAL_imagenet256_labeled.npz samples_50000x256x256x3.npz
      admbench evaluate ref.npz sample.npz --format json --output metrics.json
      torchrun --nproc_per_node=8 cli.py evaluate ref.npz sample.npz --device cuda
      admbench evaluate reference_stats/fmnist16-fmnist-cnn.npz out/runs/RUN --extractor fmnist-cnn
    """
    from benchmark.distributed import current_world
    from benchmark.evaluation.evaluator import EvalOptions
    from benchmark.evaluation.selection import parse_metrics
    from benchmark.io.inputs import require_file_or_directory, require_regular_file

    selection = parse_metrics(metric_names, kid_subsets, kid_subset_size)
    if compile_network and backend != "torch":
        raise click.BadParameter("--compile applies to the torch backend only", param_hint="--compile")
    require_regular_file(ref, "an .npz archive")
    require_file_or_directory(sample, "an .npz archive or a run directory")
    if inception is not None:
        require_regular_file(inception, "an Inception weights file")
    options = EvalOptions(
        extractor=extractor, backend=backend, weights_path=inception, compile=compile_network, device=device,
        batch_size=batch_size, cache_dir=cache_dir, use_cache=not no_cache, recompute_ref_stats=recompute_ref_stats,
        pr_arithmetic=PRArithmetic(pr_arithmetic), selection=selection,
    )
    if sample.is_dir():
        not_default = (("--recompute-ref-stats", recompute_ref_stats),
                       ("--pr-arithmetic", options.pr_arithmetic is not PRArithmetic.GPU_TF))
        for flag, given in not_default:
            if given:
                raise click.BadParameter(f"{flag} is not supported when SAMPLE is a run directory (its metrics files "
                                         "use the paper's settings); evaluate the archive file instead",
                                         param_hint=flag)
        _evaluate_run_dir(ref, sample, options, fmt, output, quiet)
        return
    _check_output(output, [p for p in (ref, sample, inception) if p is not None])
    result = _evaluate_file(ref, sample, options, quiet)
    if current_world().is_main:
        _emit(result.to_dict(), fmt, output)


def _evaluate_run_dir(ref: Path, run_dir: Path, options: EvalOptions, fmt: str, output: Path | None,
                      quiet: bool) -> None:  # fmt: skip
    """Evaluate every finished sample archive of a run into RUN/metrics/<tag>.json (all inputs checked first)."""
    from benchmark.errors import InputError
    from benchmark.evaluation.evaluator import build_evaluator, check_cache_dir
    from benchmark.evaluation.extract import archive_sha256
    from benchmark.evaluation.formatting import render
    from benchmark.io.atomic import write_text_atomic
    from benchmark.io.npz import inspect_archive
    from benchmark.io.outputs import probe_writable_directory
    from benchmark.progress import make_reporter
    from runners.evaluate_run import check_run_archive, evaluate_run_archive
    from runners.rundir import RunDir

    run = RunDir(run_dir)
    if not run.exists():
        raise InputError("is a directory but not a run directory (no config.json)", run_dir)
    run.config  # read and verified once: a malformed config.json is one line, before any work
    archives = run.finished_archives()
    if not archives:
        raise InputError("run directory has no finished sample archives under samples/<tag>/", run_dir)
    for path in (ref, *archives):
        inspect_archive(path)
    metrics = [run.metrics(a.parent.name) for a in archives]
    side_files = [run.sample_dir(a.parent.name).record for a in archives]
    protected = (ref, options.weights_path, run.config_path, *archives, *side_files, *metrics)
    _check_output(output, [p for p in protected if p is not None])
    probe_writable_directory(run.metrics_dir)
    check_cache_dir(options)
    reporter = make_reporter(quiet)
    # Every archive's labels, size and sample record are checked before the first metrics file is written.
    evaluator = build_evaluator(options)
    ref_sha256 = archive_sha256(ref, reporter)
    hashes = {}
    for archive in archives:
        evaluator.check(ref, archive)
        hashes[archive] = ref_sha256, check_run_archive(archive, reporter)
    texts = []
    for archive in archives:
        tag = archive.parent.name
        result = evaluate_run_archive(run_dir, archive, ref, tag, evaluator, reporter, hashes[archive])
        texts.append((f"## {tag}\n\n" if fmt in ("text", "markdown") else "") + render(result, fmt))
    text = "\n".join(texts)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_text_atomic(output, text)


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"), show_default=True,
              help="Where to write the generated demo archives.")
@_with_common
def demo(out: Path, fmt: str, output: Path | None, device: str, batch_size: int, quiet: bool,
         cache_dir: Path | None, no_cache: bool) -> None:
    """Generate a small reference/sample archive pair and evaluate it with the random test extractor.

    This shows the whole evaluation path without any download; its numbers are not Inception FID.
    """
    from benchmark.evaluation.demo import make_demo_pair
    from benchmark.evaluation.evaluator import EvalOptions
    from benchmark.io.outputs import probe_writable_directory

    probe_writable_directory(out)
    _check_output(output, [out / "demo_ref.npz", out / "demo_sample.npz"])
    ref, sample = make_demo_pair(out)
    options = EvalOptions(extractor="random-cnn-test", device=device, batch_size=batch_size,
                          cache_dir=cache_dir or out / "cache", use_cache=not no_cache)  # fmt: skip
    result = _evaluate_file(ref, sample, options, quiet)
    _emit(result.to_dict(), "markdown" if fmt == "text" else fmt, output)


@click.command("extractors")
def list_extractors() -> None:
    """List the registered feature extractors."""
    from benchmark.extractors.registry import extractor_summaries

    for name, summary in extractor_summaries():
        click.echo(f"{name}: {summary}")


