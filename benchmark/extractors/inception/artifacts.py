"""The public Inception-v3 (2015-12-05) weight artifacts: URLs, file names, sizes and published checksums."""

from __future__ import annotations

import os
from pathlib import Path

from benchmark import paths
from benchmark.errors import InputError
from benchmark.io.download import RemoteFile
from benchmark.io.inputs import require_regular_file

# TF GraphDef hosted by OpenAI for guided-diffusion's evaluator (same bytes as the 2015 tarball member).
TF_GRAPH = RemoteFile(
    url="https://openaipublic.blob.core.windows.net/diffusion/jul-2021/ref_batches/classify_image_graph_def.pb",
    filename="classify_image_graph_def.pb",
    size=95_673_916,
    md5="e6bb154e85f5d4331c22abcddb5dcf31",
)
# pytorch-fid's conversion of the same graph (torchvision names, 1008 classes); torch-fidelity mirrors the file.
_PTH_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
PYTORCH_FID = RemoteFile(
    url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    filename="pt_inception-2015-12-05-6726825d.pth",
    sha256=_PTH_SHA256,
)
TORCH_FIDELITY = RemoteFile(
    url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    filename="weights-inception-2015-12-05-6726825d.pth",
    sha256=_PTH_SHA256,
)
# NVIDIA's TorchScript translation: no checksum is published, so it never counts as verified.
NVIDIA_TORCHSCRIPT = RemoteFile(
    url="https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
    filename="inception-2015-12-05.pt",
)

ARTIFACTS: dict[str, RemoteFile] = {
    "tf-graph": TF_GRAPH,
    "pytorch-fid": PYTORCH_FID,
    "torch-fidelity": TORCH_FIDELITY,
    "nvidia-torchscript": NVIDIA_TORCHSCRIPT,
}
CANONICAL_FILENAME = "inception-v3-2015-12-05.safetensors"
WEIGHTS_ENV = "ADMBENCH_INCEPTION"
CACHE_ENV = paths.CACHE_ENV


def published_match(size: int, sha256: str, md5: str) -> str | None:
    """Name of the published artifact whose checksums a file with these digests matches, or None."""
    if size == TF_GRAPH.size and md5 == TF_GRAPH.md5:
        return "tf-graph"
    if sha256 == _PTH_SHA256:
        return "pytorch-fid"
    return None


def artifact_named(filename: str) -> RemoteFile | None:
    """The published artifact carrying this exact file name (and a checksum), if any."""
    for remote in ARTIFACTS.values():
        if remote.filename == filename and (remote.md5 or remote.sha256):
            return remote
    return None


def cache_dir(override: Path | None = None) -> Path:
    """The admbench cache directory: `override`, else $ADMBENCH_CACHE, else ~/.cache/admbench."""
    return paths.cache_root(override)


def find_weights(explicit: Path | None, cache_override: Path | None) -> Path | None:
    """Weights file to use: `explicit`, else $ADMBENCH_INCEPTION, else the first known file in the cache."""
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        path = Path(env).expanduser()
        try:
            require_regular_file(path, "an Inception-v3 weights file")
        except InputError as err:
            raise InputError(f"{err.message} (named by ${WEIGHTS_ENV})", path) from None
        return path
    root = cache_dir(cache_override)
    for name in (CANONICAL_FILENAME, *(r.filename for r in ARTIFACTS.values())):
        if (root / name).is_file():
            return root / name
    return None


def missing_weights_message(cache_override: Path | None) -> str:
    """One line telling the user exactly where to put which file and how to get it."""
    root = cache_dir(cache_override)
    return (
        "no Inception-v3 weights found: run `admbench inception fetch` (downloads "
        f"{TF_GRAPH.url} to {root / TF_GRAPH.filename}), or download it (or {PYTORCH_FID.url}) yourself "
        f"and pass --inception PATH or set ${WEIGHTS_ENV}=PATH "
        f"(cache directory: ${CACHE_ENV}, default ~/.cache/admbench)"
    )
