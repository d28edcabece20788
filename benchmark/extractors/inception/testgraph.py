"""Synthetic stand-in for `classify_image_graph_def.pb`: the real graph's structure with random weights.

Same node names, op types (BatchNormWithGlobalNormalization, legacy ResizeBilinear, Concat with concat_dim,
SAME/VALID AvgPool/MaxPool, Reshape, MatMul, Softmax), input chain DecodeJpeg -> Cast -> ExpandDims ->
ResizeBilinear -> Sub -> Mul, tensor shapes and 1008 classes; `versions.producer` = 8 so that TensorFlow still
accepts the deprecated batch-norm op. Conv weights are He-normal from numpy's PCG64(seed); every BN's moving
mean/variance is calibrated, layer by layer, on the batch statistics of a few random images, with gamma = 1,
so activations keep a realistic range through all 94 units. A marker Const `admbench_synthetic/seed` makes
the file recognisable as synthetic. Nothing here needs TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.extractors.inception import layout
from benchmark.extractors.inception.graphdef import (
    DT_FLOAT, DT_INT32, DT_INT64, DT_STRING, DT_UINT8, GraphDefClasses, graphdef_classes, numpy_to_tensor)
from benchmark.extractors.inception.network import ConvUnit, InceptionV3
from benchmark.extractors.inception.weights import SYNTHETIC_MARKER
from benchmark.io.atomic import atomic_write

GRAPH_PRODUCER = 8  # BatchNormWithGlobalNormalization was removed in GraphDef version 9
_LOGIT_STD = 3.0  # target spread of the synthetic logits, so that IS is not trivially 1
_BETA_STD = 0.2

#----------------------------------------------------------------------------
# Random, calibrated weights.


def _calibration_images(rng: np.random.Generator) -> list[np.ndarray]:
    """A few random uint8 images of different character: pixel noise, smooth noise, flat blocks, near-constant."""
    images = [rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8) for size in (8, 32, 299)]
    for cells in (2, 4, 8):  # flat colour blocks with grain
        low = rng.integers(0, 256, (cells, cells, 3)).astype(np.float64)
        img = np.kron(low, np.ones((64 // cells, 64 // cells, 1))) + rng.normal(0, 8.0 * cells, (64, 64, 3))
        images.append(np.clip(img, 0, 255).astype(np.uint8)[None])
    for level in rng.integers(0, 256, 2):  # almost uniform images
        images.append(np.clip(level + rng.normal(0, 2.0, (1, 48, 48, 3)), 0, 255).astype(np.uint8))
    return images


@torch.no_grad()
def synthetic_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """Canonical state dict with He-normal convs, calibrated BN statistics (gamma = 1) and a scaled fc layer."""
    rng = np.random.default_rng(seed)
    net = InceptionV3(channels_last=False).eval()
    units = [m for m in net.modules() if isinstance(m, ConvUnit)]
    for unit in units:
        w = unit.conv.weight
        fan_in = w.shape[1] * w.shape[2] * w.shape[3]
        he = rng.standard_normal(tuple(w.shape), dtype=np.float32) * np.float32(np.sqrt(2 / fan_in))
        w.copy_(torch.from_numpy(he))
        unit.bn.bias.copy_(torch.from_numpy(rng.normal(0.0, _BETA_STD, w.shape[0]).astype(np.float32)))

    # BN calibration: each conv's output statistics become its BN moving mean / variance, in forward order.
    def calibrate(module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        bn = next(u.bn for u in units if u.conv is module)
        out = output.double()
        bn.running_mean.copy_(out.mean(dim=(0, 2, 3)).float())
        bn.running_var.copy_(out.var(dim=(0, 2, 3), unbiased=False).float())

    hooks = [u.conv.register_forward_hook(calibrate) for u in units]
    x = torch.cat([net.preprocess(torch.from_numpy(img)) for img in _calibration_images(rng)])
    pool, _, _ = net.features(x)
    for hook in hooks:
        hook.remove()

    fc = rng.standard_normal((layout.NUM_CLASSES, layout.POOL_DIM), dtype=np.float32)
    logits = pool.numpy() @ fc.T
    fc *= np.float32(_LOGIT_STD / max(float(logits.std()), 1e-6))
    net.fc.weight.copy_(torch.from_numpy(fc))
    net.fc.bias.copy_(torch.from_numpy(rng.normal(0.0, 0.5, layout.NUM_CLASSES).astype(np.float32)))
    return {k: v.clone() for k, v in net.state_dict().items()}


#----------------------------------------------------------------------------
# GraphDef writer.


class _Graph:
    """Appends NodeDefs in topological order."""

    def __init__(self, classes: GraphDefClasses) -> None:
        self.c = classes
        self.graph = classes.GraphDef()
        self.graph.versions.producer = GRAPH_PRODUCER

    def node(self, name: str, op: str, inputs: list[str], **attrs: Any) -> str:
        n = self.graph.node.add(name=name, op=op)
        n.input.extend(inputs)
        for key, value in attrs.items():
            attr = n.attr[key]
            if isinstance(value, bool):
                attr.b = value
            elif isinstance(value, int):
                attr.i = value
            elif isinstance(value, float):
                attr.f = value
            elif isinstance(value, str):
                attr.s = value.encode()
            elif isinstance(value, tuple) and value and value[0] == "type":
                attr.type = value[1]
            elif isinstance(value, tuple) and value and value[0] == "shape":
                attr.shape.CopyFrom(self.c.TensorShapeProto())
                for size in value[1]:
                    attr.shape.dim.add(size=size)
            elif isinstance(value, list):
                attr.list.i.extend(value)
            else:
                attr.tensor.CopyFrom(value)
        return name

    def const(self, name: str, arr: np.ndarray) -> str:
        arr = np.asarray(arr)
        dtype = {np.dtype(np.float32): DT_FLOAT, np.dtype(np.int32): DT_INT32, np.dtype(np.int64): DT_INT64}[arr.dtype]
        return self.node(name, "Const", [], dtype=("type", dtype), value=numpy_to_tensor(self.c, arr))


def _t() -> tuple[str, int]:
    return ("type", DT_FLOAT)


def _conv_unit(g: _Graph, unit: layout.ConvSpec, x: str, sd: dict[str, np.ndarray]) -> str:
    s, t = unit.tf_scope, unit.torch_name
    kernel = g.const(f"{s}/conv2d_params", sd[f"{t}.conv.weight"].transpose(2, 3, 1, 0))  # -> [kh, kw, cin, cout]
    conv = g.node(f"{s}/Conv2D", "Conv2D", [x, kernel], T=_t(), strides=[1, unit.stride, unit.stride, 1],
                  padding="SAME" if unit.same else "VALID", use_cudnn_on_gpu=True, data_format="NHWC")
    beta = g.const(f"{s}/batchnorm/beta", sd[f"{t}.bn.bias"])
    gamma = g.const(f"{s}/batchnorm/gamma", sd[f"{t}.bn.weight"])
    mean = g.const(f"{s}/batchnorm/moving_mean", sd[f"{t}.bn.running_mean"])
    var = g.const(f"{s}/batchnorm/moving_variance", sd[f"{t}.bn.running_var"])
    bn = g.node(f"{s}/batchnorm", "BatchNormWithGlobalNormalization", [conv, mean, var, beta, gamma], T=_t(),
                variance_epsilon=layout.BN_EPSILON, scale_after_normalization=True)
    return g.node(s, "Relu", [bn], T=_t())


def _pool(g: _Graph, name: str, op: str, x: str, k: int, stride: int, padding: str) -> str:
    return g.node(name, op, [x], T=_t(), ksize=[1, k, k, 1], strides=[1, stride, stride, 1], padding=padding,
                  data_format="NHWC")


def _concat(g: _Graph, name: str, parts: list[str]) -> str:
    dim = g.const(f"{name}/concat_dim", np.array(3, dtype=np.int32))
    return g.node(name, "Concat", [dim, *parts], N=len(parts), T=_t())


def _block(g: _Graph, block: layout.BlockSpec, x: str, sd: dict[str, np.ndarray]) -> str:
    units = {u.tf_scope.split("/", 1)[1]: u for u in layout.block_convs(block)}
    b = block.tf_scope

    def run(scope: str, inp: str) -> str:
        return _conv_unit(g, units[scope], inp, sd)

    def pool_branch() -> str:
        op = "MaxPool" if block.pool == "max" else "AvgPool"
        return run("tower_2/conv", _pool(g, f"{b}/tower_2/pool", op, x, 3, 1, "SAME"))

    if block.kind == "A":
        tower = run("tower/conv_1", run("tower/conv", x))
        tower_1 = run("tower_1/conv_2", run("tower_1/conv_1", run("tower_1/conv", x)))
        parts = [run("conv", x), tower, tower_1, pool_branch()]
    elif block.kind == "B":
        tower = run("tower/conv_2", run("tower/conv_1", run("tower/conv", x)))
        parts = [run("conv", x), tower, _pool(g, f"{b}/pool", "MaxPool", x, 3, 2, "VALID")]
    elif block.kind == "C":
        tower = run("tower/conv_2", run("tower/conv_1", run("tower/conv", x)))
        tower_1 = run("tower_1/conv", x)
        for i in range(1, 5):
            tower_1 = run(f"tower_1/conv_{i}", tower_1)
        parts = [run("conv", x), tower, tower_1, pool_branch()]
    elif block.kind == "D":
        tower = run("tower/conv_1", run("tower/conv", x))
        tower_1 = run("tower_1/conv", x)
        for i in range(1, 4):
            tower_1 = run(f"tower_1/conv_{i}", tower_1)
        parts = [tower, tower_1, _pool(g, f"{b}/pool", "MaxPool", x, 3, 2, "VALID")]
    else:  # E
        tower = run("tower/conv", x)
        tower_mixed = _concat(g, f"{b}/tower/mixed", [run("tower/mixed/conv", tower), run("tower/mixed/conv_1", tower)])
        tower_1 = run("tower_1/conv_1", run("tower_1/conv", x))
        tower_1_mixed = _concat(g, f"{b}/tower_1/mixed",
                                [run("tower_1/mixed/conv", tower_1), run("tower_1/mixed/conv_1", tower_1)])
        parts = [run("conv", x), tower_mixed, tower_1_mixed, pool_branch()]
    return _concat(g, f"{b}/join", parts)


def build_graphdef(sd: dict[str, torch.Tensor], seed: int) -> Any:
    """GraphDef message of the Inception-v3 graph holding the canonical weights `sd`."""
    arrays = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in sd.items()}
    g = _Graph(graphdef_classes())
    # Input chain (the reference feeds ExpandDims:0 directly and skips the JPEG decoder).
    contents = g.node("DecodeJpeg/contents", "Placeholder", [], dtype=("type", DT_STRING), shape=("shape", []))
    decoded = g.node("DecodeJpeg", "DecodeJpeg", [contents], channels=3, ratio=1, fancy_upscaling=True,
                     try_recover_truncated=False, acceptable_fraction=1.0, dct_method="")
    cast = g.node("Cast", "Cast", [decoded], SrcT=("type", DT_UINT8), DstT=("type", DT_FLOAT))
    expanded = g.node("ExpandDims", "ExpandDims", [cast, g.const("ExpandDims/dim", np.array(0, dtype=np.int32))],
                      T=_t(), Tdim=("type", DT_INT32))
    size = g.const("ResizeBilinear/size", np.array([layout.INPUT_SIZE, layout.INPUT_SIZE], dtype=np.int32))
    x = g.node("ResizeBilinear", "ResizeBilinear", [expanded, size], T=_t(), align_corners=False)
    x = g.node("Sub", "Sub", [x, g.const("Sub/y", np.array(128.0, dtype=np.float32))], T=_t())
    x = g.node("Mul", "Mul", [x, g.const("Mul/y", np.array(1.0 / 128.0, dtype=np.float32))], T=_t())
    # Stem, mixed blocks, head.
    for unit in layout.STEM:
        x = _conv_unit(g, unit, x, arrays)
        if unit.tf_scope == "conv_2":
            x = _pool(g, "pool", "MaxPool", x, 3, 2, "VALID")
        if unit.tf_scope == "conv_4":
            x = _pool(g, "pool_1", "MaxPool", x, 3, 2, "VALID")
    for block in layout.BLOCKS:
        x = _block(g, block, x, arrays)
    x = _pool(g, "pool_3", "AvgPool", x, 8, 1, "VALID")
    shape = g.const("pool_3/_reshape/shape", np.array([-1, layout.POOL_DIM], dtype=np.int32))
    x = g.node("pool_3/_reshape", "Reshape", [x, shape], T=_t(), Tshape=("type", DT_INT32))
    weights = g.const("softmax/weights", np.ascontiguousarray(arrays["fc.weight"].T))
    x = g.node("softmax/logits/MatMul", "MatMul", [x, weights], T=_t(), transpose_a=False, transpose_b=False)
    x = g.node("softmax/logits", "Add", [x, g.const("softmax/biases", arrays["fc.bias"])], T=_t())
    g.node("softmax", "Softmax", [x], T=_t())
    g.const(SYNTHETIC_MARKER, np.array([seed], dtype=np.int64))
    return g.graph


def write_test_graph(path: str | Path, seed: int) -> None:
    """Write a synthetic Inception-v3 GraphDef (real structure, random calibrated weights) to `path`, atomically."""
    graph = build_graphdef(synthetic_state_dict(seed), seed)
    with atomic_write(path) as f:
        f.write(graph.SerializeToString())
