"""benchmark.compat.guided_diffusion.logger: the reference logger's files, averaging, levels, directory and format selection."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.compat.guided_diffusion import logger
from benchmark.errors import InputError


def test_logkv_mean_is_the_running_mean_and_logkv_keeps_the_last(tmp_path: Path):
    values = [1.0, 2.0, 3.0, 10.0, -4.5]
    with logger.scoped_configure(dir=str(tmp_path), format_strs=["log"]):
        for v in values:
            logger.logkv_mean("loss", v)
            logger.logkv("step", v)
        assert logger.getkvs()["loss"] == pytest.approx(np.mean(values))
        out = logger.dumpkvs()
        assert out == {"loss": pytest.approx(np.mean(values)), "step": -4.5}
        assert logger.dumpkvs() == {}  # cleared after a dump
        logger.logkv_mean("loss", 7.0)  # the count restarts too
        assert logger.dumpkvs() == {"loss": 7.0}


def test_progress_csv_widens_its_header_and_pads_earlier_rows(tmp_path: Path):
    with logger.scoped_configure(dir=str(tmp_path), format_strs=["csv"]):
        logger.logkv("step", 0)
        logger.logkv("loss", 0.5)
        logger.dumpkvs()
        logger.logkvs({"step": 1, "loss": 0.25, "acc": 0.75})
        logger.dumpkvs()
        logger.logkv("step", 2)
        logger.dumpkvs()
    with open(tmp_path / "progress.csv", newline="") as f:
        rows = list(csv.reader(f))
    # Each dump's new keys are appended in sorted order; missing values are empty cells.
    assert rows == [["loss", "step", "acc"], ["0.5", "0", ""], ["0.25", "1", "0.75"], ["", "2", ""]]


def test_progress_json_and_log_txt(tmp_path: Path):
    with logger.scoped_configure(dir=str(tmp_path), format_strs=["log", "json"]):
        logger.log("hello", 3, "world")
        logger.logkv("loss", np.float32(0.5))
        logger.logkv("step", 4)
        logger.dumpkvs()
        assert logger.get_dir() == str(tmp_path)
    lines = (tmp_path / "progress.json").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"loss": 0.5, "step": 4}]
    text = (tmp_path / "log.txt").read_text()
    assert text.startswith(f"Logging to {tmp_path}\n")
    assert "hello 3 world\n" in text
    assert "| loss | 0.5      |" in text and "| step | 4        |" in text


def test_format_table_layout():
    table = logger.format_table({"step": 3, "Loss": 0.123456, "name": "x" * 40})
    # Keys sorted case-insensitively, numbers as %-8.3g, cells cut to 27 characters + "...".
    name = "x" * 27 + "..."
    width = 4 + 30 + 7
    expected = [
        "-" * width,
        "| Loss | " + "0.123".ljust(30) + " |",
        "| name | " + name + " |",
        "| step | " + "3".ljust(30) + " |",
        "-" * width,
    ]
    assert table == "\n".join(expected) + "\n"


def test_levels_filter_log_lines(tmp_path: Path):
    with logger.scoped_configure(dir=str(tmp_path), format_strs=["log"]):
        logger.set_level(logger.WARN)
        logger.info("quiet")
        logger.debug("quieter")
        logger.warn("loud")
        logger.error("louder")
    text = (tmp_path / "log.txt").read_text()
    assert "loud\n" in text and "louder\n" in text and "quiet" not in text


def test_scopes_restore_the_previous_logger(tmp_path: Path):
    with logger.scoped_configure(dir=str(tmp_path / "outer"), format_strs=[]):
        with logger.scoped_configure(dir=str(tmp_path / "inner"), format_strs=[]):
            assert logger.get_dir() == str(tmp_path / "inner")
        assert logger.get_dir() == str(tmp_path / "outer")


def test_directory_and_formats_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_LOGDIR", str(tmp_path / "env"))
    monkeypatch.setenv("OPENAI_LOG_FORMAT", "json,csv")
    for name in ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK"):
        monkeypatch.delenv(name, raising=False)
    with logger.scoped_configure():
        assert logger.get_dir() == str(tmp_path / "env")
        logger.logkv("a", 1)
        logger.dumpkvs()
    assert sorted(p.name for p in (tmp_path / "env").iterdir()) == ["progress.csv", "progress.json"]


def test_other_ranks_write_suffixed_log_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RANK", "2")
    monkeypatch.delenv("OPENAI_LOG_FORMAT_MPI", raising=False)
    with logger.scoped_configure(dir=str(tmp_path)):
        logger.log("from rank 2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log-rank002.txt"]


def test_default_directory_is_a_fresh_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPENAI_LOGDIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # let tempfile re-read TMPDIR
    with logger.scoped_configure(format_strs=[]):
        log_dir = Path(logger.get_dir() or "")
    assert log_dir.parent == tmp_path and log_dir.name.startswith("openai-") and log_dir.is_dir()


def test_unknown_format_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="tensorboard"):
        logger.configure(dir=str(tmp_path), format_strs=["log", "tensorboard"])
    assert not (tmp_path / "log.txt").exists()  # nothing opened before the check


def test_logger_objects_work_without_the_global(tmp_path: Path):
    own = logger.Logger(str(tmp_path), [logger.make_output_format("json", tmp_path)])
    own.logkv_mean("x", 1.0)
    own.logkv_mean("x", 2.0)
    assert own.dumpkvs() == {"x": 1.5}
    own.close()
    assert json.loads((tmp_path / "progress.json").read_text()) == {"x": 1.5}
