"""Load Inception-v3 weights from every public format into one canonical state dict (torchvision names).

Formats are recognised from the file's bytes, never its extension:
- TF GraphDef `.pb` (protobuf; parsed without TensorFlow, Const nodes -> arrays, conv/BN attributes checked);
- pytorch-fid / torch-fidelity state dict `.pth` (legacy pickle or zip, loaded with weights_only=True);
- NVIDIA TorchScript `inception-2015-12-05.pt` (zip with `code/`; tensors read from `state_dict()`);
- admbench canonical safetensors (written by `admbench inception convert`, records its source's checksums).
"""

from __future__ import annotations

import hashlib
import json
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from benchmark.errors import InputError
from benchmark.extractors.inception import artifacts, layout
from benchmark.extractors.inception.graphdef import graphdef_classes, tensor_to_numpy
from benchmark.io.atomic import atomic_path
from benchmark.io.inputs import require_regular_file

StateDict = dict[str, torch.Tensor]

FORMAT_GRAPHDEF = "tf-graphdef"
FORMAT_STATE_DICT = "torch-state-dict"
FORMAT_TORCHSCRIPT = "torchscript"
FORMAT_CANONICAL = "admbench-safetensors"
CANONICAL_TAG = "admbench-inception-v3-2015-12-05"
SYNTHETIC_MARKER = "admbench_synthetic/seed"  # Const node present only in graphs from `make-test-graph`


@dataclass(frozen=True)
class WeightsSource:
    """Where weights came from and whether they are the published reference weights."""

    path: str
    format: str
    size: int
    sha256: str  # of the file loaded
    md5: str
    reference: bool  # file (or, for a converted file, its recorded source) matches a published checksum
    artifact: str | None  # the published artifact matched, if any
    source_sha256: str  # sha256 of the original artifact (= sha256 unless converted)
    source_md5: str
    source_size: int
    source_format: str
    synthetic_seed: int | None = None

    def describe(self) -> str:
        """One line for ExtractorInfo.description."""
        if self.reference:
            return f"2015-12-05 Inception-v3 weights, verified against the published {self.artifact} checksum"
        what = f"synthetic test graph (seed {self.synthetic_seed})" if self.synthetic_seed is not None else "weights"
        return (f"Inception-v3 architecture with UNVERIFIED {what}: sha256 {self.source_sha256[:12]}... matches no "
                "published checksum; numbers are not comparable to published FID/IS")


#----------------------------------------------------------------------------
# Format detection and hashing.

def _digests(path: Path) -> tuple[int, str, str]:
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest(), md5.hexdigest()


def detect_format(path: Path) -> str:
    """Recognise the weight format from the file's content."""
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) < 8:
        raise InputError("file is empty or truncated (fewer than 8 bytes); not an Inception-v3 weights file", path)
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except zipfile.BadZipFile as exc:
            raise InputError(f"corrupt or truncated zip archive ({exc})", path) from exc
        if any("/code/" in n or n.endswith("constants.pkl") for n in names):
            return FORMAT_TORCHSCRIPT
        return FORMAT_STATE_DICT
    if head[0] == 0x80:  # pickle protocol marker: legacy torch.save
        return FORMAT_STATE_DICT
    (header_len,) = struct.unpack("<Q", head[:8])
    if head[8:9] == b"{" and 0 < header_len < 100_000_000:
        return FORMAT_CANONICAL
    if head[0] == 0x0A:  # GraphDef field 1 (node), length-delimited
        return FORMAT_GRAPHDEF
    raise InputError("unrecognised file format: expected a TF GraphDef .pb, a PyTorch .pth state dict, a TorchScript "
                     ".pt or an admbench .safetensors file", path)


#----------------------------------------------------------------------------
# Validation shared by all formats.

def _short(names: list[str], limit: int = 5) -> str:
    more = f" (and {len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def validate_state_dict(sd: StateDict, path: Path, what: str) -> StateDict:
    """Check that every canonical tensor is present with the right shape and finite; return float32 copies."""
    expected = layout.canonical_shapes()
    missing = [k for k in expected if k not in sd]
    if missing:
        raise InputError(f"{what}: missing {len(missing)} of {len(expected)} Inception-v3 tensors: {_short(missing)}",
                         path)
    wrong = [f"{k} {tuple(sd[k].shape)} (expected {expected[k]})"
             for k in expected if tuple(sd[k].shape) != expected[k]]
    if wrong:
        raise InputError(f"{what}: wrong tensor shapes: {_short(wrong, 3)}", path)
    out = {k: sd[k].detach().to(torch.float32).contiguous() for k in expected}
    bad = [k for k, v in out.items() if not bool(torch.isfinite(v).all())]
    if bad:
        raise InputError(f"{what}: non-finite values in {_short(bad)}", path)
    negative = [k for k, v in out.items() if k.endswith("running_var") and bool((v < 0).any())]
    if negative:
        raise InputError(f"{what}: negative BN variance in {_short(negative)}", path)
    return out


def tensors_digest(sd: StateDict) -> str:
    """sha256 over canonical names and float32 little-endian bytes (detects corrupted tensors in converted files)."""
    h = hashlib.sha256()
    for key in sorted(sd):
        h.update(key.encode())
        h.update(sd[key].to(torch.float32).contiguous().numpy().astype("<f4").tobytes())
    return h.hexdigest()


#----------------------------------------------------------------------------
# TF GraphDef.

def _load_graphdef(path: Path) -> tuple[StateDict, int | None]:
    classes = graphdef_classes()
    graph = classes.GraphDef()
    try:
        graph.ParseFromString(path.read_bytes())
    except Exception as exc:  # protobuf raises DecodeError subclasses that differ between implementations
        raise InputError(f"not a valid TF GraphDef (truncated or corrupt): {exc}", path) from exc
    nodes = {n.name: n for n in graph.node}
    if not nodes:
        raise InputError("TF GraphDef has no nodes (not an Inception-v3 graph)", path)

    def const(name: str) -> np.ndarray:
        node = nodes.get(name)
        if node is None or node.op != "Const":
            raise KeyError(name)
        try:
            return tensor_to_numpy(node.attr["value"].tensor)
        except ValueError as exc:
            raise InputError(f"Const {name!r} is malformed: {exc}", path) from exc

    sd: dict[str, np.ndarray] = {}
    missing: list[str] = []
    for unit in layout.all_convs():
        s, t = unit.tf_scope, unit.torch_name
        try:
            kernel = const(f"{s}/conv2d_params")
            if kernel.ndim == 4:
                kernel = kernel.transpose(3, 2, 0, 1)  # [kh, kw, cin, cout] -> [cout, cin, kh, kw]
            sd[f"{t}.conv.weight"] = kernel
            for tf_leaf, leaf in (("beta", "bias"), ("gamma", "weight"), ("moving_mean", "running_mean"),
                                  ("moving_variance", "running_var")):
                sd[f"{t}.bn.{leaf}"] = const(f"{s}/batchnorm/{tf_leaf}")
        except KeyError as exc:
            missing.append(str(exc.args[0]))
            continue
        _check_conv_node(nodes, unit, path)
        bn = nodes.get(f"{s}/batchnorm")
        if bn is not None and bn.op == "BatchNormWithGlobalNormalization":
            eps = float(bn.attr["variance_epsilon"].f)
            if abs(eps - layout.BN_EPSILON) > 1e-9:
                raise InputError(f"{s}/batchnorm has variance_epsilon {eps}, expected {layout.BN_EPSILON}", path)
            if "scale_after_normalization" in bn.attr and not bn.attr["scale_after_normalization"].b:
                sd[f"{t}.bn.weight"] = np.ones_like(sd[f"{t}.bn.weight"])  # gamma is ignored by the op
    try:
        sd["fc.weight"] = const("softmax/weights").T
        sd["fc.bias"] = const("softmax/biases")
    except KeyError as exc:
        missing.append(str(exc.args[0]))
    if missing:
        raise InputError(f"TF GraphDef lacks {len(missing)} Inception-v3 Const tensors: {_short(missing)}", path)
    _check_pools(nodes, path)
    seed = None
    if SYNTHETIC_MARKER in nodes:
        seed = int(const(SYNTHETIC_MARKER).reshape(-1)[0])
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}, seed


def _check_conv_node(nodes: dict, unit: layout.ConvSpec, path: Path) -> None:
    """The graph's Conv2D stride and padding must be the ones the PyTorch network implements."""
    node = nodes.get(f"{unit.tf_scope}/Conv2D")
    if node is None:
        raise InputError(f"TF GraphDef lacks the op {unit.tf_scope}/Conv2D", path)
    strides = list(node.attr["strides"].list.i)
    padding = node.attr["padding"].s.decode()
    if strides and strides != [1, unit.stride, unit.stride, 1]:
        raise InputError(f"{node.name} has strides {strides}, expected stride {unit.stride}", path)
    if unit.kernel != (1, 1) and padding != ("SAME" if unit.same else "VALID"):
        raise InputError(f"{node.name} has padding {padding}, expected {'SAME' if unit.same else 'VALID'}", path)


def _check_pools(nodes: dict, path: Path) -> None:
    """The pooling ops the network hard-codes: which are max pools, and that they exist."""
    expected = {"pool": "MaxPool", "pool_1": "MaxPool", "mixed_3/pool": "MaxPool", "mixed_8/pool": "MaxPool",
                "pool_3": "AvgPool"}
    for block in layout.BLOCKS:
        if block.kind in ("A", "C", "E"):
            expected[f"{block.tf_scope}/tower_2/pool"] = "MaxPool" if block.pool == "max" else "AvgPool"
    for name, op in expected.items():
        node = nodes.get(name)
        if node is None or node.op != op:
            found = "missing" if node is None else node.op
            raise InputError(f"TF GraphDef node {name!r} is {found}, expected {op}", path)


#----------------------------------------------------------------------------
# PyTorch state dict, TorchScript, canonical safetensors.

def _load_state_dict(path: Path) -> StateDict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"cannot read PyTorch state dict (corrupt, truncated or not weights-only): {exc}",
                         path) from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError("PyTorch file does not hold a state dict of tensors", path)
    return {str(k): v for k, v in obj.items() if not str(k).endswith("num_batches_tracked")}


def nvidia_path(tf_scope: str) -> tuple[str, ...]:
    """Candidate TorchScript module paths of a TF conv scope (mixed_9/10 flatten their inner scopes with '_')."""
    head, _, rest = tf_scope.partition("/")
    if not rest:
        return (f"layers.{head}",)
    dotted = f"layers.{head}.{rest.replace('/', '.')}"
    flat = f"layers.{head}.{rest.replace('/', '_')}"
    return (flat, dotted) if head in ("mixed_9", "mixed_10") else (dotted, flat)


def _load_torchscript(path: Path) -> StateDict:
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise InputError(f"cannot load TorchScript archive (corrupt or truncated): {exc}", path) from exc
    ts = {k: v for k, v in module.state_dict().items()}
    sd: StateDict = {}
    missing: list[str] = []
    for unit in layout.all_convs():
        prefix = next((p for p in nvidia_path(unit.tf_scope) if f"{p}.weight" in ts), None)
        if prefix is None:
            missing.append(f"{nvidia_path(unit.tf_scope)[0]}.weight")
            continue
        keys = {"conv.weight": "weight", "bn.bias": "beta", "bn.running_mean": "mean", "bn.running_var": "var"}
        for leaf, ts_leaf in keys.items():
            if f"{prefix}.{ts_leaf}" not in ts:
                missing.append(f"{prefix}.{ts_leaf}")
            else:
                sd[f"{unit.torch_name}.{leaf}"] = ts[f"{prefix}.{ts_leaf}"]
        gamma = ts.get(f"{prefix}.gamma")
        sd[f"{unit.torch_name}.bn.weight"] = gamma if gamma is not None else torch.ones(unit.out_channels)
    for leaf in ("weight", "bias"):
        if f"output.{leaf}" in ts:
            sd[f"fc.{leaf}"] = ts[f"output.{leaf}"]
        else:
            missing.append(f"output.{leaf}")
    if missing:
        raise InputError(f"TorchScript module lacks {len(missing)} Inception-v3 tensors: {_short(missing)}", path)
    return sd


def _load_canonical(path: Path) -> tuple[StateDict, dict[str, str]]:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            sd = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise InputError(f"cannot read safetensors file (corrupt or truncated): {exc}", path) from exc
    if meta.get("format") != CANONICAL_TAG:
        raise InputError(f"safetensors file is not an admbench Inception-v3 file (format {meta.get('format')!r})", path)
    return sd, meta


#----------------------------------------------------------------------------


def load_inception_weights(path: str | Path) -> tuple[StateDict, WeightsSource]:
    """Load any supported Inception-v3 weights file; return the canonical float32 state dict and its provenance.

    Raises InputError naming what is wrong: unknown format, failed checksum of a file carrying a published
    artifact's name, missing tensors, wrong shapes, non-finite values.
    """
    path = Path(path)
    require_regular_file(path, "an Inception-v3 weights file")
    fmt = detect_format(path)
    size, sha, md5 = _digests(path)
    named = artifacts.artifact_named(path.name)
    if named is not None:
        if named.size is not None and size != named.size:
            raise InputError(f"size {size} bytes, expected {named.size} for {named.filename} (truncated or wrong file; "
                             "re-run `admbench inception fetch`)", path)
        if (named.md5 and md5 != named.md5) or (named.sha256 and sha != named.sha256):
            published = named.md5 or named.sha256
            raise InputError(f"checksum mismatch for {named.filename}: got md5 {md5} / sha256 {sha}, published "
                             f"{published} (corrupt or wrong file; re-run `admbench inception fetch`)", path)
    seed: int | None = None
    src_size, src_sha, src_md5, src_fmt = size, sha, md5, fmt
    if fmt == FORMAT_GRAPHDEF:
        raw, seed = _load_graphdef(path)
    elif fmt == FORMAT_STATE_DICT:
        raw = _load_state_dict(path)
    elif fmt == FORMAT_TORCHSCRIPT:
        raw = _load_torchscript(path)
    else:
        raw, meta = _load_canonical(path)
        try:
            src_size, src_sha, src_md5 = int(meta["source_size"]), meta["source_sha256"], meta["source_md5"]
            src_fmt = meta["source_format"]
            seed = int(meta["synthetic_seed"]) if meta.get("synthetic_seed") else None
        except (KeyError, ValueError) as exc:
            raise InputError(f"admbench safetensors metadata is incomplete ({exc})", path) from exc
    sd = validate_state_dict(raw, path, fmt)
    if fmt == FORMAT_CANONICAL and tensors_digest(sd) != meta.get("tensors_sha256"):
        raise InputError("tensor checksum does not match the one recorded at conversion (corrupted file)", path)
    artifact = artifacts.published_match(src_size, src_sha, src_md5)
    source = WeightsSource(
        path=str(path), format=fmt, size=size, sha256=sha, md5=md5, reference=artifact is not None,
        artifact=artifact, source_sha256=src_sha, source_md5=src_md5, source_size=src_size, source_format=src_fmt,
        synthetic_seed=seed,
    )
    return sd, source


def convert_weights(src: str | Path, dst: str | Path) -> WeightsSource:
    """Write the canonical safetensors file for any supported weights file (atomically); return the source info."""
    sd, source = load_inception_weights(src)
    meta = {
        "format": CANONICAL_TAG,
        "source_format": source.source_format,
        "source_sha256": source.source_sha256,
        "source_md5": source.source_md5,
        "source_size": str(source.source_size),
        "source_name": Path(src).name,
        "tensors_sha256": tensors_digest(sd),
        "synthetic_seed": "" if source.synthetic_seed is None else str(source.synthetic_seed),
        "layout": json.dumps({"names": "torchvision Inception3", "conv": "OIHW", "bn_eps": layout.BN_EPSILON}),
    }
    with atomic_path(dst, suffix=".safetensors") as tmp:
        save_file(sd, str(tmp), metadata=meta)
    return source
