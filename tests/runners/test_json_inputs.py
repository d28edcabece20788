"""Every JSON file or flag string the runner commands read is one clear line when malformed or nested too deeply."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from benchmark.cli import main

DEEP = "[" * 200_000 + "]" * 200_000


@pytest.mark.parametrize("content", [DEEP, "{not json", "\xff\xfe"])
@pytest.mark.parametrize("command", ["train", "sample --config", "sample --gd-flags"])
def test_malformed_or_deep_json_is_one_line_exit_2(tmp_path, command, content):
    path = tmp_path / "in.json"
    path.write_bytes(content.encode("latin-1") if content.startswith("\xff") else content.encode())
    if command == "train":
        args = ["train", str(path), "--out", str(tmp_path / "out")]
    elif command == "sample --config":
        run = tmp_path / "run"
        run.mkdir()
        args = ["sample", str(run), "--config", str(path)]
    else:
        (tmp_path / "model.pt").write_bytes(b"")
        args = ["sample", "--gd-checkpoint", str(tmp_path / "model.pt"), "--gd-flags", str(path),
                "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, [*args, "--quiet"])
    assert result.exit_code == 2, (result.output, result.exception)
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output and "in.json" in result.output
    assert not (tmp_path / "out").exists()
