"""Every public weight format loads to the same tensors; bad files are named with what is wrong."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from benchmark.errors import InputError
from benchmark.extractors.base import ExtractorOptions
from benchmark.extractors.inception import artifacts, convert_weights, layout, load_inception_weights
from benchmark.extractors.inception.graphdef import graphdef_classes
from benchmark.extractors.registry import build_extractor
from tests.inception.conftest import smooth_images
from tests.inception.exporters import export_pth, export_torchscript


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, test_graph: Path, graph_weights: dict) -> dict[str, Path]:
    """The synthetic weights in every format (file names deliberately say nothing about the format)."""
    root = tmp_path_factory.mktemp("formats")
    files = {"pb": test_graph, "pth": root / "a.bin", "pth_nocount": root / "b.bin", "torchscript": root / "c.bin",
             "safetensors": root / "d.bin"}
    export_pth(graph_weights, files["pth"], counters=True)
    export_pth(graph_weights, files["pth_nocount"], counters=False)
    export_torchscript(graph_weights, files["torchscript"])
    convert_weights(test_graph, files["safetensors"])
    return files


def test_all_formats_load_identical_tensors(exported: dict[str, Path], graph_weights: dict) -> None:
    expected_formats = {"pb": "tf-graphdef", "pth": "torch-state-dict", "pth_nocount": "torch-state-dict",
                        "torchscript": "torchscript", "safetensors": "admbench-safetensors"}
    for key, path in exported.items():
        sd, source = load_inception_weights(path)
        assert source.format == expected_formats[key]
        assert set(sd) == set(layout.canonical_shapes()) and len(sd) == 472
        for name, tensor in graph_weights.items():
            assert torch.equal(sd[name], tensor), f"{key}: {name}"
        assert source.sha256 == _sha256(path)


def test_all_formats_give_identical_features(exported: dict[str, Path]) -> None:
    images = smooth_images(np.random.default_rng(3), 1, 40)
    outputs = {}
    for key in ("pb", "pth", "torchscript"):
        path = exported[key]
        extractor = build_extractor("inception-v3", ExtractorOptions(weights_path=path, batch_size=1))
        # Synthetic weights are never "reference", whatever their format.
        assert not extractor.info.reference_inception and "UNVERIFIED" in extractor.info.description
        assert extractor.info.weights_sha256 == _sha256(path)
        outputs[key] = extractor.extract(images)
    base = outputs["pb"]
    for key, feats in outputs.items():
        np.testing.assert_array_equal(feats.pool, base.pool, err_msg=key)
        np.testing.assert_array_equal(feats.spatial, base.spatial, err_msg=key)
        np.testing.assert_array_equal(feats.logits, base.logits, err_msg=key)


def test_graphdef_layout_matches_tf_conventions(test_graph: Path, graph_weights: dict) -> None:
    # Independent decode of one Const: conv2d_params is [kh, kw, cin, cout]; the loader must permute to OIHW.
    graph = graphdef_classes().GraphDef()
    graph.ParseFromString(test_graph.read_bytes())
    node = next(n for n in graph.node if n.name == "mixed_6/conv/conv2d_params")
    dims = [d.size for d in node.attr["value"].tensor.tensor_shape.dim]
    raw = np.frombuffer(node.attr["value"].tensor.tensor_content, "<f4").reshape(dims)
    assert dims == [1, 1, 768, 192]
    np.testing.assert_array_equal(graph_weights["Mixed_6d.branch1x1.conv.weight"].numpy(),
                                  raw.transpose(3, 2, 0, 1))
    assert graph.versions.producer <= 8


#----------------------------------------------------------------------------
# Provenance and the reference verdict.


def test_verdict_follows_published_checksum(exported: dict[str, Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend our .pth is the published pytorch-fid file: the verdict must follow the checksum,
    # and a converted file must inherit it from the source hash it records.
    pth_sha = _sha256(exported["pth"])
    monkeypatch.setattr(artifacts, "_PTH_SHA256", pth_sha)
    _, source = load_inception_weights(exported["pth"])
    assert source.reference and source.artifact == "pytorch-fid"
    converted = tmp_path / "canonical.safetensors"
    convert_weights(exported["pth"], converted)
    _, canon = load_inception_weights(converted)
    assert canon.reference and canon.source_sha256 == pth_sha and canon.sha256 == _sha256(converted)
    extractor = build_extractor("inception-v3", ExtractorOptions(weights_path=converted))
    assert extractor.info.reference_inception and extractor.info.weights_sha256 == _sha256(converted)
    with safe_open(str(converted), framework="pt") as f:
        meta = f.metadata()
    assert meta["source_sha256"] == pth_sha and meta["source_format"] == "torch-state-dict"
    # The TorchScript artifact has no published checksum: never reference.
    _, ts = load_inception_weights(exported["torchscript"])
    assert not ts.reference


#----------------------------------------------------------------------------
# Bad files.


def test_truncated_graph(test_graph: Path, tmp_path: Path) -> None:
    bad = tmp_path / "graph.pb"
    bad.write_bytes(test_graph.read_bytes()[: 40_000_000])
    with pytest.raises(InputError, match="truncated|lacks"):
        load_inception_weights(bad)


def test_published_name_with_wrong_content(test_graph: Path, exported: dict[str, Path], tmp_path: Path) -> None:
    pb = tmp_path / artifacts.TF_GRAPH.filename
    shutil.copy(test_graph, pb)
    with pytest.raises(InputError, match="size .* expected 95673916"):
        load_inception_weights(pb)
    pth = tmp_path / artifacts.PYTORCH_FID.filename
    shutil.copy(exported["pth"], pth)
    with pytest.raises(InputError, match="checksum mismatch"):
        load_inception_weights(pth)


def test_missing_and_misshapen_tensors(graph_weights: dict, tmp_path: Path) -> None:
    missing = dict(graph_weights)
    del missing["Mixed_7c.branch_pool.bn.running_var"]
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(InputError, match="missing 1 of 472.*Mixed_7c.branch_pool.bn.running_var"):
        load_inception_weights(tmp_path / "missing.pth")
    wrong = dict(graph_weights)
    wrong["fc.weight"] = torch.zeros(1000, 2048)  # torchvision's 1000-class head: a different checkpoint
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(InputError, match=r"wrong tensor shapes: fc.weight \(1000, 2048\)"):
        load_inception_weights(tmp_path / "wrong.pth")


def test_torchscript_missing_tensor(graph_weights: dict, tmp_path: Path) -> None:
    path = tmp_path / "partial.pt"
    export_torchscript(graph_weights, path, skip=("mixed_10/tower_2/conv",))
    with pytest.raises(InputError, match="lacks .*mixed_10.tower_2_conv"):
        load_inception_weights(path)


def test_corrupted_canonical_tensors(exported: dict[str, Path], tmp_path: Path) -> None:
    with safe_open(str(exported["safetensors"]), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors["Conv2d_1a_3x3.conv.weight"][0, 0, 0, 0] += 1.0
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(InputError, match="tensor checksum"):
        load_inception_weights(bad)


def test_not_a_weights_file(tmp_path: Path) -> None:
    junk = tmp_path / "weights.pb"
    junk.write_bytes(b"hello, this is not a protobuf" * 10)
    with pytest.raises(InputError, match="unrecognised file format"):
        load_inception_weights(junk)
    with pytest.raises(InputError, match="not found"):
        load_inception_weights(tmp_path / "absent.pb")


def _edited_graph(test_graph: Path, tmp_path: Path, name: str, edit) -> Path:
    graph = graphdef_classes().GraphDef()
    graph.ParseFromString(test_graph.read_bytes())
    edit(next(n for n in graph.node if n.name == name))
    out = tmp_path / "edited.pb"
    out.write_bytes(graph.SerializeToString())
    return out


def test_graph_structure_is_checked(test_graph: Path, tmp_path: Path) -> None:
    def valid_padding(node) -> None:
        node.attr["padding"].s = b"VALID"

    path = _edited_graph(test_graph, tmp_path, "mixed_4/tower/conv_1/Conv2D", valid_padding)
    with pytest.raises(InputError, match="padding VALID, expected SAME"):
        load_inception_weights(path)

    def avg_pool(node) -> None:
        node.op = "AvgPool"

    path = _edited_graph(test_graph, tmp_path, "mixed_10/tower_2/pool", avg_pool)
    with pytest.raises(InputError, match="mixed_10/tower_2/pool.*expected MaxPool"):
        load_inception_weights(path)

    def eps(node) -> None:
        node.attr["variance_epsilon"].f = 1e-5

    path = _edited_graph(test_graph, tmp_path, "conv/batchnorm", eps)
    with pytest.raises(InputError, match="variance_epsilon"):
        load_inception_weights(path)


#----------------------------------------------------------------------------
# Finding the weights.


def test_missing_weights_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(artifacts.WEIGHTS_ENV, raising=False)
    with pytest.raises(InputError) as err:
        build_extractor("inception-v3", ExtractorOptions(cache_dir=tmp_path))
    text = str(err.value)
    assert "admbench inception fetch" in text and artifacts.TF_GRAPH.url in text
    assert str(tmp_path / artifacts.TF_GRAPH.filename) in text and "--inception" in text


def test_weights_from_env_and_cache(exported: dict[str, Path], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(artifacts.WEIGHTS_ENV, str(exported["pth"]))
    info = build_extractor("inception-v3", ExtractorOptions(cache_dir=tmp_path)).info
    assert info.weights_source == f"torch-state-dict:{exported['pth']}"
    monkeypatch.delenv(artifacts.WEIGHTS_ENV)
    shutil.copy(exported["safetensors"], tmp_path / artifacts.CANONICAL_FILENAME)
    info = build_extractor("inception-v3", ExtractorOptions(cache_dir=tmp_path)).info
    assert info.weights_source.startswith("admbench-safetensors:")
