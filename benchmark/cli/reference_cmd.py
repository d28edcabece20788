"""`admbench reference`: train the Fashion-MNIST proxy extractor and build reference batches."""

from __future__ import annotations

from pathlib import Path

import click

from benchmark.cli.options import device_option


@click.group()
def reference() -> None:
    """Reference batches (ADM format) and the Fashion-MNIST proxy extractor.

    \b
    Examples:
      admbench reference train-extractor
      admbench reference build fashion-mnist --extractor fmnist-cnn --resolution 16
      admbench reference build path/to/imagenet/train --extractor inception --resolution 128
    """


@reference.command("train-extractor")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Folder for fmnist-cnn.safetensors and its manifest entry [default: reference_stats/].")
@click.option("--epochs", type=click.IntRange(min=1), default=5, show_default=True, metavar="N",
              help="Training epochs.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="S", help="Random seed.")
def train_extractor_cmd(out_dir: Path | None, epochs: int, seed: int) -> None:
    """Train the fmnist-cnn proxy extractor on the Fashion-MNIST train split (deterministic on CPU).

    \b
    Examples:
      admbench reference train-extractor
      admbench reference train-extractor --out /tmp/fmnist --epochs 1 --seed 1
    """
    from benchmark.data.reference_manifest import REFERENCE_DIR, read_manifest
    from benchmark.io.outputs import probe_writable_directory
    from runners.train_extractor import TrainExtractorConfig, train_extractor

    probe_writable_directory(out_dir or REFERENCE_DIR)
    read_manifest(out_dir or REFERENCE_DIR)  # a malformed manifest must fail now, not after training
    train_extractor(TrainExtractorConfig(epochs=epochs, seed=seed), out_dir or REFERENCE_DIR, log=click.echo)


@reference.command("build")
@click.argument("dataset", metavar="DATASET")
@click.option("--extractor", required=True, metavar="NAME", help="Feature extractor (see the registry).")
@click.option("--resolution", type=click.IntRange(min=1), default=None, metavar="R",
              help="Image size [default: 32 for fashion-mnist, the stored size for .npz; required for folders].")
@click.option("--channels", type=click.Choice(["1", "3"]), default="3", show_default=True, help="Image channels.")
@click.option("--num-images", type=click.IntRange(min=1), default=10_000, show_default=True, metavar="N",
              help="Images kept in arr_0 for precision / recall (statistics always use the whole dataset).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="S",
              help="Seed of the arr_0 subset.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="PATH",
              help="Output .npz [default: reference_stats/<dataset>-<split>-<R>x<R>x<C>-<extractor>.npz].")
@device_option("cpu", "Torch device for the extractor.")
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True, metavar="B",
              help="Images per extractor batch.")
def build_cmd(
    dataset: str,
    extractor: str,
    resolution: int | None,
    channels: str,
    num_images: int,
    seed: int,
    out_path: Path | None,
    device: str,
    batch_size: int,
) -> None:
    """Build a reference batch: arr_0 images plus mu, sigma, mu_s, sigma_s over the whole DATASET.

    DATASET is "fashion-mnist" (train split), "fashion-mnist:test", an image folder or an image .npz.

    \b
    Examples:
      admbench reference build fashion-mnist --extractor fmnist-cnn --resolution 16
      admbench reference build fashion-mnist --extractor fmnist-cnn --resolution 32 --out /tmp/ref.npz
    """
    from benchmark.data.reference_manifest import REFERENCE_DIR
    from benchmark.data.registry import open_dataset
    from benchmark.extractors.base import ExtractorOptions
    from benchmark.extractors.registry import build_extractor
    from runners.reference_build import build_reference, default_output_name

    if out_path is not None:
        _check_reference_output(out_path, dataset)
    data = open_dataset(dataset, resolution, int(channels))
    model = build_extractor(extractor, ExtractorOptions(device=device, batch_size=batch_size))
    target = out_path or REFERENCE_DIR / default_output_name(data, model.info.name)
    _check_reference_output(target, dataset)
    build_reference(data, model, target, num_images=num_images, seed=seed, batch_size=batch_size, log=click.echo)


def _check_reference_output(target: Path, dataset: str) -> None:
    """The reference batch and its folder's manifest must be writable, and neither may be the DATASET file."""
    from benchmark.data.reference_manifest import MANIFEST_NAME, read_manifest
    from benchmark.io.outputs import check_output_file, refuse_overwrite

    source = Path(dataset).expanduser()
    refuse_overwrite(target, [source, target.parent / MANIFEST_NAME], "--out")
    check_output_file(target, "--out")
    read_manifest(target.parent)  # a malformed manifest must fail now, not after the statistics are computed
