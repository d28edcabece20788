"""JSON read from disk: every way it can be wrong is one InputError naming the file (never a RecursionError)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmark.errors import InputError
from benchmark.io.inputs import require_regular_file


def parse_json(text: str, path: str | Path | None = None) -> Any:
    """json.loads, with malformed and too deeply nested documents turned into InputError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON ({err.msg} at line {err.lineno})", path) from None
    except RecursionError:
        raise InputError("JSON is nested too deeply to be a configuration", path) from None


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """The parsed content of a regular UTF-8 JSON file."""
    require_regular_file(path, f"a {what}")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} is not UTF-8 text", path) from None
    except OSError as err:
        raise InputError(f"cannot read {what} ({err.strerror or err})", path) from None
    return parse_json(text, path)


def read_json_object(path: str | Path, what: str = "JSON file") -> dict[str, Any]:
    """`read_json`, refusing anything but a JSON object."""
    data = read_json(path, what)
    if not isinstance(data, dict):
        raise InputError(f"{what} must be a JSON object, got {type(data).__name__}", path)
    return data


def reusable_json_object(path: str | Path) -> dict[str, Any] | None:
    """A JSON object from a file that is only reused when valid (a finished run's record): None when it is missing,
    not a regular file, unreadable or not an object (the caller then redoes the work it describes)."""
    try:
        return read_json_object(path)
    except InputError:
        return None
