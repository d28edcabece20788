"""`inception-v3` feature extractors: the PyTorch port (default) and the TensorFlow graph runner (`backend="tf"`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from benchmark.errors import InputError
from benchmark.extractors.base import ExtractorInfo, ExtractorOptions, FeatureExtractor, Features, check_images
from benchmark.extractors.inception import artifacts, layout
from benchmark.extractors.inception.network import InceptionV3
from benchmark.extractors.inception.weights import FORMAT_GRAPHDEF, WeightsSource, load_inception_weights

NAME = "inception-v3"
SUMMARY = "Inception-v3 2015-12-05 (TF-exact port of guided-diffusion's evaluator graph): FID, sFID, IS, P/R"
BACKENDS = ("torch", "tf")
# On CPU the network runs fastest on batches of about 16 images, whose activations stay in cache (two cores: 16.1
# img/s at 16 vs 13.9 at 64); larger requested batches are split. GPUs use the requested batch size as is.
CPU_MAX_BATCH = 16


def _info(source: WeightsSource, backend: str) -> ExtractorInfo:
    return ExtractorInfo(
        name=NAME,
        description=f"{SUMMARY}; {source.describe()}",
        weights_sha256=source.sha256,
        weights_source=f"{source.format}:{source.path}",
        backend=backend,
        pool_dim=layout.POOL_DIM,
        spatial_dim=layout.SPATIAL_DIM,
        logits_dim=layout.NUM_CLASSES,
        reference_inception=source.reference,
    )


@contextlib.contextmanager
def _no_tf32() -> Iterator[None]:
    """Full float32 matmuls/convolutions on GPUs (TF32 would move features by ~1e-3), restored afterwards."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class TorchInceptionExtractor(FeatureExtractor):
    """The PyTorch port: BN folded into convs, channels_last, inference_mode, optional torch.compile."""

    def __init__(self, state_dict: dict[str, torch.Tensor], source: WeightsSource, device: str = "cpu",
                 batch_size: int = 64, compile: bool = False) -> None:
        self._source = source
        self._compiled = compile
        self._device = torch.device(device)
        self._batch_size = max(1, batch_size if self._device.type != "cpu" else min(batch_size, CPU_MAX_BATCH))
        net = InceptionV3(channels_last=True)
        net.load_state_dict(state_dict)
        self.network = net.eval().to(self._device).fuse()
        # Only the 299x299 network body is compiled; the exact resize depends on the input size and stays eager.
        self._features = torch.compile(self.network.features) if compile else self.network.features

    @property
    def info(self) -> ExtractorInfo:
        # The compiled network may round differently (fused kernels), so it is a separate backend in the cache key.
        return _info(self._source, "torch+compile" if self._compiled else "torch")

    def extract(self, images: np.ndarray) -> Features:
        images = check_images(images)
        pools, spatials, logits = [], [], []
        with torch.inference_mode(), _no_tf32():
            for start in range(0, len(images), self._batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(images[start : start + self._batch_size]))
                p, s, l = self._features(self.network.preprocess(batch.to(self._device, non_blocking=True)))
                pools.append(p.float().cpu().numpy())
                spatials.append(s.float().cpu().numpy())
                logits.append(l.float().cpu().numpy())
        if not pools:
            return Features(np.zeros((0, layout.POOL_DIM), np.float32), np.zeros((0, layout.SPATIAL_DIM), np.float32),
                            np.zeros((0, layout.NUM_CLASSES), np.float32))
        return Features(np.concatenate(pools), np.concatenate(spatials), np.concatenate(logits))


class TFInceptionExtractor(FeatureExtractor):
    """The reference path: TensorFlow runs the GraphDef itself (needs the `tf` extra and a .pb file)."""

    def __init__(self, graph_path: Path, source: WeightsSource, device: str = "cpu", batch_size: int = 64) -> None:
        from benchmark.extractors.inception.tf_backend import TFInceptionGraph

        self._source = source
        self._batch_size = max(1, batch_size)
        self._graph = TFInceptionGraph(graph_path, device="cpu" if device == "cpu" else "gpu")

    @property
    def info(self) -> ExtractorInfo:
        return _info(self._source, "tf")

    def extract(self, images: np.ndarray) -> Features:
        images = check_images(images)
        outs = [self._graph.run(images[i : i + self._batch_size]) for i in range(0, len(images), self._batch_size)]
        if not outs:
            return Features(np.zeros((0, layout.POOL_DIM), np.float32), np.zeros((0, layout.SPATIAL_DIM), np.float32),
                            np.zeros((0, layout.NUM_CLASSES), np.float32))
        return Features(*(np.concatenate([o[i] for o in outs]).astype(np.float32) for i in range(3)))


def build(options: ExtractorOptions) -> FeatureExtractor:
    """Registry factory: find and verify the weights, then build the requested backend."""
    if options.backend not in BACKENDS:
        raise InputError(f"unknown Inception backend {options.backend!r}; choose one of: {', '.join(BACKENDS)}")
    path = artifacts.find_weights(options.weights_path, options.cache_dir)
    if path is None:
        raise InputError(artifacts.missing_weights_message(options.cache_dir))
    if options.backend == "tf":
        from benchmark.extractors.inception.tf_backend import import_tensorflow

        import_tensorflow()  # fail early with the install hint
        state_dict, source = load_inception_weights(path)
        if source.format != FORMAT_GRAPHDEF:
            raise InputError(f"the tf backend runs the GraphDef itself and needs a .pb file, got a {source.format} "
                             f"file; fetch it with `admbench inception fetch`", path)
        del state_dict
        return TFInceptionExtractor(path, source, device=options.device, batch_size=options.batch_size)
    state_dict, source = load_inception_weights(path)
    return TorchInceptionExtractor(state_dict, source, device=options.device, batch_size=options.batch_size,
                                   compile=options.compile)
