"""`admbench inception`: fetch, convert and inspect Inception-v3 weights; write the synthetic test graph."""

from __future__ import annotations

import json
from pathlib import Path

import click

from benchmark.cli.options import device_option


@click.group()
def inception() -> None:
    """Inception-v3 (2015-12-05) weights for FID / sFID / IS / precision / recall.

    \b
    Examples:
      admbench inception fetch
      admbench inception convert classify_image_graph_def.pb inception.safetensors
      admbench inception info ~/.cache/admbench/classify_image_graph_def.pb
      admbench inception make-test-graph test_graph.pb --seed 0
      admbench inception verify classify_image_graph_def.pb --device cuda
    """


@inception.command()
@click.option("--artifact", type=click.Choice(["tf-graph", "pytorch-fid", "torch-fidelity", "nvidia-torchscript"]),
              default="tf-graph", show_default=True, help="Which published file to download.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Target directory [default: $ADMBENCH_CACHE or ~/.cache/admbench].")
def fetch(artifact: str, cache_dir: Path | None) -> None:
    """Download weights (resumable; size + checksum verified before the atomic rename).

    \b
    Examples:
      admbench inception fetch
      admbench inception fetch --artifact pytorch-fid --cache-dir /data/weights
    """
    from benchmark.extractors.inception import artifacts
    from benchmark.io.download import download

    remote = artifacts.ARTIFACTS[artifact]
    target = artifacts.cache_dir(cache_dir)

    def progress(done: int, total: int | None) -> None:
        if total:
            click.echo(f"\r{remote.filename}: {done / 2**20:.1f} / {total / 2**20:.1f} MiB", nl=False, err=True)

    path = download(remote, target, progress=progress)
    click.echo("", err=True)
    click.echo(str(path))


@inception.command()
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
def convert(src: Path, dst: Path) -> None:
    """Write the canonical safetensors file (torchvision names; source sha256 and format in its metadata).

    \b
    Example:
      admbench inception convert pt_inception-2015-12-05-6726825d.pth inception.safetensors
    """
    from benchmark.extractors.inception import convert_weights

    if dst.suffix != ".safetensors":
        raise click.BadParameter(f"{dst} must end in .safetensors (the canonical format is safetensors)",
                                 param_hint="DST")
    source = convert_weights(src, dst)
    click.echo(f"{dst}: from {source.format} {src} (sha256 {source.source_sha256}); {source.describe()}")


@inception.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def info(path: Path) -> None:
    """Print the format, checksums and reference verdict of a weights file as JSON."""
    from benchmark.extractors.inception import load_inception_weights

    _, source = load_inception_weights(path)
    click.echo(json.dumps({**source.__dict__, "description": source.describe()}, indent=2))


@inception.command("make-test-graph")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random weights.")
def make_test_graph(out: Path, seed: int) -> None:
    """Write a GraphDef with the real graph's structure and random, BN-calibrated weights (for tests; ~95 MB).

    \b
    Example:
      admbench inception make-test-graph /tmp/inception_test.pb --seed 0
    """
    from benchmark.extractors.inception import write_test_graph

    write_test_graph(out, seed)
    click.echo(str(out))


def _parse_sizes(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated pixel sizes, got {value!r}") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter(f"expected positive pixel sizes, got {value!r}")
    return sizes


@inception.command()
@click.argument("graph", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--torch-weights", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="Weights for the PyTorch port (.pb/.pth/.pt/.safetensors) [default: GRAPH itself].")
@device_option("cpu", "torch device: cpu, cuda, cuda:1...")
@click.option("--against", type=click.Choice(["tf", "torch-cpu"]), default="tf", show_default=True,
              help="Reference: TensorFlow running GRAPH (needs the tf extra and a .pb), or the PyTorch port on the "
                   "CPU (a device check where TensorFlow is not installed; the CPU path's TF parity is tested).")
@click.option("--tf-device", type=click.Choice(["cpu", "gpu"]), default=None,
              help="TensorFlow device [default: gpu when --device is a GPU, else cpu].")
@click.option("--sizes", default="32,64,128,256,299,512", show_default=True, callback=_parse_sizes,
              help="Input sizes to probe (pixels, comma-separated).")
@click.option("--count", type=click.IntRange(min=1), default=8, show_default=True, help="Probe images per size.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the probe images.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=1e-4, show_default=True,
              help="Pass threshold on every relative error.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True, help="Images per batch.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Where to look for GRAPH when it is not given [default: $ADMBENCH_CACHE or ~/.cache/admbench].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(graph: Path | None, torch_weights: Path | None, device: str, against: str, tf_device: str | None,
           sizes: tuple[int, ...], count: int, seed: int, tolerance: float, batch_size: int, cache_dir: Path | None,
           as_json: bool) -> None:
    """Check that the PyTorch port reproduces TensorFlow running the GraphDef (exit 1 when it does not).

    Both sides extract pool, spatial and logits from the same probe images at each size; every norm-wise
    relative error ||ours - reference|| / ||reference|| must stay within the tolerance.

    \b
    Examples:
      admbench inception verify
      admbench inception verify classify_image_graph_def.pb --device cuda
      admbench inception verify classify_image_graph_def.pb --torch-weights inception.safetensors
      admbench inception verify graph.pb --device cuda --against torch-cpu
    """
    import torch

    from benchmark.errors import InputError
    from benchmark.extractors.base import ExtractorOptions
    from benchmark.extractors.inception import artifacts
    from benchmark.extractors.inception.tf_backend import import_tensorflow
    from benchmark.extractors.inception.verify import VerifySettings, compare_backends
    from benchmark.extractors.registry import build_extractor

    graph = artifacts.find_weights(graph, cache_dir)
    if graph is None:
        raise InputError(artifacts.missing_weights_message(cache_dir))
    if against == "tf":
        tf_module = import_tensorflow()  # one line with the install hint when the tf extra is missing
        ref_device = tf_device or ("cpu" if torch.device(device).type == "cpu" else "gpu")
        ref_label = f"TensorFlow {tf_module.__version__} on {ref_device}"
        ref_options = ExtractorOptions(weights_path=graph, backend="tf", batch_size=batch_size,
                                       device="cpu" if ref_device == "cpu" else "cuda")
    else:
        ref_device = "cpu"
        ref_label = f"torch {torch.__version__} on cpu"
        ref_options = ExtractorOptions(weights_path=graph, backend="torch", batch_size=batch_size, device="cpu")
    reference = build_extractor("inception-v3", ref_options)
    ours = build_extractor("inception-v3", ExtractorOptions(weights_path=torch_weights or graph, backend="torch",
                                                            device=device, batch_size=batch_size))
    settings = VerifySettings(sizes=sizes, count=count, seed=seed, tolerance=tolerance)
    rows = compare_backends(ours, reference, settings)
    worst = max(r.worst for r in rows)
    passed = worst <= tolerance
    result = {
        "passed": passed,
        "max_relative_error": worst,
        "settings": settings.__dict__,
        "torch": {"device": device, "version": torch.__version__, "weights": ours.info.weights_source,
                  "weights_sha256": ours.info.weights_sha256},
        "reference": {"against": against, "label": ref_label, "device": ref_device,
                      "weights": reference.info.weights_source, "weights_sha256": reference.info.weights_sha256},
        "rows": [{**r.__dict__} for r in rows],
    }
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(f"torch {torch.__version__} on {device} ({ours.info.weights_source}, sha256 "
                   f"{ours.info.weights_sha256[:12]}...) vs {ref_label} ({reference.info.weights_source})")
        click.echo(f"{'size':>6} {'pool':>10} {'spatial':>10} {'logits':>10}   (||ours - reference|| / ||reference||)")
        for r in rows:
            flag = "" if r.worst <= tolerance else "  <- above tolerance"
            click.echo(f"{r.size:>6} {r.pool:>10.2e} {r.spatial:>10.2e} {r.logits:>10.2e}{flag}")
        verdict = "PASS" if passed else "FAIL"
        click.echo(f"{verdict}: max relative error {worst:.2e} (tolerance {tolerance:.0e}, {count} images per size)")
    if not passed:
        raise SystemExit(1)
