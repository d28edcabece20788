"""`admbench inception`: fetch, convert and inspect Inception-v3 weights; write the synthetic test graph."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def inception() -> None:
    """Inception-v3 (2015-12-05) weights for FID / sFID / IS / precision / recall.

    \b
    Examples:
      admbench inception fetch
      admbench inception convert classify_image_graph_def.pb inception.safetensors
      admbench inception info ~/.cache/admbench/classify_image_graph_def.pb
      admbench inception make-test-graph test_graph.pb --seed 0
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
