"""The proxy-extractor trainer: seeded runs are bit-identical and leave a verified manifest entry."""

from __future__ import annotations

import hashlib
import json

import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save

from benchmark.cli import main
from benchmark.extractors.fmnist_cnn import WEIGHTS_FILE, FashionCNN, FashionCNNExtractor
from runners.train_extractor import TrainExtractorConfig, fit_network, train_extractor
from tests.data.fmnist_files import load_split_or_fail

CONFIG = TrainExtractorConfig(epochs=1, seed=3, batch_size=128, limit=384)


def _state_bytes(net: FashionCNN) -> bytes:
    return save({k: v.contiguous() for k, v in net.state_dict().items()})


def test_seeded_training_is_reproducible_and_recorded(tmp_path):
    images, labels = load_split_or_fail("train")
    images, labels = images[: CONFIG.limit], labels[: CONFIG.limit]
    entry = train_extractor(CONFIG, tmp_path, log=lambda _: None)
    written = (tmp_path / WEIGHTS_FILE).read_bytes()
    assert entry["sha256"] == hashlib.sha256(written).hexdigest()

    # Training again with the same seed gives the same bytes; another seed does not.
    again = fit_network(CONFIG, images, labels, log=lambda _: None)
    assert _state_bytes(again) == written
    other = fit_network(TrainExtractorConfig(epochs=1, seed=4, batch_size=128), images, labels, log=lambda _: None)
    assert not torch.equal(other.conv1.weight, again.conv1.weight)

    manifest = json.loads((tmp_path / "manifest.json").read_text())["files"][WEIGHTS_FILE]
    assert manifest == entry
    assert entry["config"]["seed"] == 3 and entry["config"]["epochs"] == 1 and entry["train_images"] == 384
    assert entry["torch_version"] == torch.__version__ and 0.0 <= entry["test_accuracy"] <= 1.0
    assert set(entry["test_accuracy_by_view"]) == {"28px", "32px", "16px"}
    # The written file loads into the architecture and passes the manifest check.
    FashionCNN().load_state_dict(load_file(str(tmp_path / WEIGHTS_FILE)))
    assert FashionCNNExtractor(tmp_path / WEIGHTS_FILE).info.weights_sha256 == entry["sha256"]


def test_cli_help_lists_the_commands():
    result = CliRunner().invoke(main, ["reference", "--help"])
    assert result.exit_code == 0 and "train-extractor" in result.output and "build" in result.output
    result = CliRunner().invoke(main, ["reference", "train-extractor", "--epochs", "0"])
    assert result.exit_code == 2
