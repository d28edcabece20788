"""The one config system: typed frozen dataclasses serialised to JSON by their type hints.

Every configuration of admbench (networks, diffusion, training, sampling, run records) derives from
`ConfigBase`: `to_dict` writes enums as their values, `TextForm`s as their text and tuples as lists;
`from_dict` converts each JSON value to the annotated type (enums, text forms, optionals, tuples, nested
configs), takes defaults for missing keys (a nested config's from the field's default), refuses unknown keys and
wrong types with one `InputError` naming the key, and then runs the dataclass's own checks. A config with a
`kind` writes it as the JSON's "kind" key and refuses a record of another kind.
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
    `kind`, when set, is written as the "kind" key and checked on reading (a run record's kind).
    """

    config_name: ClassVar[str] = ""
    kind: ClassVar[enum.Enum | None] = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: enums as their values, tuples as lists, nested configs as dicts."""
        out: dict[str, Any] = {} if self.kind is None else {"kind": self.kind.value}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, TextForm):
                value = str(value)
            elif isinstance(value, ConfigBase):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def check_typed_fields(self) -> None:
        """Refuse an enum or text-form field holding anything else (a config built in Python with a bare string)."""
        owner = self.config_name or type(self).__name__
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            hint, value = hints[f.name], getattr(self, f.name)
            if isinstance(hint, type) and issubclass(hint, (enum.Enum, TextForm)) and not isinstance(value, hint):
                raise InputError(f"{owner}.{f.name} must be a {hint.__name__}, got {value!r}")

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], path: str | Path | None = None) -> C:
        """Inverse of `to_dict`; missing keys take the defaults, unknown keys raise InputError naming the key."""
        owner = cls.config_name or cls.__name__
        if not isinstance(data, dict):
            raise InputError(f"{owner} must be a JSON object, got {type(data).__name__}", path)
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        data = _without_kind(cls, owner, data, path)
        for key in data:
            if key not in fields:
                known = sorted({*fields, "kind"} if cls.kind is not None else fields)
                raise InputError(f"unknown {owner} key {key!r}; known keys: {', '.join(known)}", path)
        kwargs = {
            key: _coerce(owner, key, value, hints[key], path, fields[key].default) for key, value in data.items()
        }
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


def _without_kind(cls: type[ConfigBase], owner: str, data: dict[str, Any], path: str | Path | None) -> dict[str, Any]:
    """`data` less its "kind" key, which must name `cls.kind` (absent reads as it) when the config has a kind."""
    if cls.kind is None or "kind" not in data:
        return data
    if data["kind"] != cls.kind.value:
        raise InputError(f"config kind is {data['kind']!r}, expected {cls.kind.value!r}", path)
    return {key: value for key, value in data.items() if key != "kind"}


def _coerce(owner: str, key: str, value: Any, hint: Any, path: str | Path | None, default: Any) -> Any:
    """Convert one JSON value to the annotated field type, or raise InputError naming the key.

    A nested config's missing keys come from the field's `default` (a classifier run's train defaults differ).
    """
    where = f"{owner}.{key}"
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(owner, key, value, inner, path, default)
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
    if isinstance(hint, type) and issubclass(hint, ConfigBase):
        if isinstance(value, hint):
            return value
        if isinstance(value, dict) and isinstance(default, hint):
            value = {**default.to_dict(), **value}
        return hint.from_dict(value, path)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where} must be a list, got {type(value).__name__}", path)
        return tuple(_coerce(owner, key, v, args[0], path, None) for v in value)
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
