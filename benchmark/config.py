"""The one config system: typed frozen dataclasses serialised to JSON by their type hints.

Every configuration of admbench (networks, diffusion, training, sampling, run records) derives from
`ConfigBase`: `to_dict` writes enums as their values, `TextForm`s as their text and tuples as lists;
`from_dict` converts each JSON value to the annotated type (enums, text forms, optionals, tuples, nested
configs), takes defaults for missing keys, refuses unknown keys and wrong types with one `InputError` naming the
key, and then runs the dataclass's own checks.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from benchmark.errors import InputError
from benchmark.io.atomic import write_json_atomic
from benchmark.io.json_input import parse_json, read_json

C = TypeVar("C", bound="ConfigBase")
T = TypeVar("T", bound="TextForm")


class TextForm:
    """A config value written in JSON as one string (a timestep respacing): `parse(text)` reads it, `str()` writes it."""

    @classmethod
    def parse(cls: type[T], text: str) -> T:
        raise NotImplementedError


class ConfigBase:
    """to_dict / from_dict / JSON round trip for frozen dataclasses of ints, floats, bools, strings, enums, tuples.

    `config_name` prefixes error messages (e.g. "train.lr must be a number"); it defaults to the class name.
    """

    config_name: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: enums as their values, tuples as lists."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, TextForm):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], path: str | Path | None = None) -> C:
        """Inverse of `to_dict`; missing keys take the defaults, unknown keys raise InputError naming the key."""
        owner = cls.config_name or cls.__name__
        if not isinstance(data, dict):
            raise InputError(f"{owner} must be a JSON object, got {type(data).__name__}", path)
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        for key in data:
            if key not in names:
                raise InputError(f"unknown {owner} key {key!r}; known keys: {', '.join(sorted(names))}", path)
        kwargs = {key: _coerce(owner, key, value, hints[key], path) for key, value in data.items()}
        try:
            return cls(**kwargs)
        except InputError as err:
            raise InputError(str(err), path) from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls: type[C], text: str, path: str | Path | None = None) -> C:
        return cls.from_dict(parse_json(text, path), path)

    def save(self, path: str | Path) -> None:
        """Write the config as JSON (atomically)."""
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls: type[C], path: str | Path) -> C:
        return cls.from_dict(read_json(path, "config"), path)


def _coerce(owner: str, key: str, value: Any, hint: Any, path: str | Path | None) -> Any:
    """Convert one JSON value to the annotated field type, or raise InputError naming the key."""
    where = f"{owner}.{key}"
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(owner, key, value, inner, path)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if isinstance(value, hint):
            return value
        choices = [m.value for m in hint]
        if value not in choices:
            raise InputError(f"{where} must be one of {choices}, got {value!r}", path)
        return hint(value)
    if isinstance(hint, type) and issubclass(hint, TextForm):
        if isinstance(value, hint):
            return value
        if not isinstance(value, str):
            raise InputError(f"{where} must be a string, got {value!r}", path)
        try:
            return hint.parse(value)
        except InputError as err:
            raise InputError(str(err), path) from None
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where} must be a list, got {type(value).__name__}", path)
        return tuple(_coerce(owner, key, v, args[0], path) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise InputError(f"{where} must be true or false, got {value!r}", path)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where} must be an integer, got {value!r}", path)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where} must be a number, got {value!r}", path)
        return float(value) if not isinstance(value, int) else value
    if hint is str:
        if not isinstance(value, str):
            raise InputError(f"{where} must be a string, got {value!r}", path)
        return value
    return value
