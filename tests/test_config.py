"""The one config system (benchmark.config.ConfigBase): nested configs, a record's kind, typed fields."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

import pytest

from benchmark.config import ConfigBase
from benchmark.errors import InputError


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Kind(enum.Enum):
    BOX = "box"


@dataclass(frozen=True)
class Inner(ConfigBase):
    size: int = 1
    colour: Colour = Colour.RED

    config_name: ClassVar[str] = "inner"

    def __post_init__(self) -> None:
        self.check_typed_fields()


@dataclass(frozen=True)
class Outer(ConfigBase):
    first: Inner = Inner()
    second: Inner = Inner(size=5, colour=Colour.BLUE)

    config_name: ClassVar[str] = "outer"
    kind: ClassVar[Kind] = Kind.BOX


def test_nested_configs_round_trip_with_their_kind():
    config = Outer(first=Inner(size=3))
    data = config.to_dict()
    assert data == {"kind": "box", "first": {"size": 3, "colour": "red"}, "second": {"size": 5, "colour": "blue"}}
    assert Outer.from_dict(data) == config
    assert Outer.from_json(config.to_json()) == config


def test_missing_nested_keys_take_the_fields_default():
    config = Outer.from_dict({"first": {"size": 2}, "second": {"size": 7}})
    assert config.first == Inner(size=2, colour=Colour.RED)
    assert config.second == Inner(size=7, colour=Colour.BLUE)  # the field's default, not the class's
    assert Outer.from_dict({}) == Outer()


def test_kind_absent_reads_as_the_configs_and_another_is_refused():
    assert Outer.from_dict({"kind": "box"}) == Outer()
    with pytest.raises(InputError, match=r"^c.json: config kind is 'crate', expected 'box'$"):
        Outer.from_dict({"kind": "crate"}, "c.json")


def test_nested_errors_name_the_file_and_the_nested_key():
    with pytest.raises(InputError, match=r"^c.json: unknown inner key 'weight'"):
        Outer.from_dict({"second": {"weight": 1}}, "c.json")
    with pytest.raises(InputError, match=r"^c.json: inner.colour must be one of \['red', 'blue'\], got 'green'$"):
        Outer.from_dict({"first": {"colour": "green"}}, "c.json")
    with pytest.raises(InputError, match=r"^c.json: inner must be a JSON object, got list$"):
        Outer.from_dict({"first": [1]}, "c.json")


def test_typed_fields_refuse_a_bare_string_built_in_python():
    with pytest.raises(InputError, match=r"^inner.colour must be a Colour, got 'red'$"):
        Inner(colour="red")  # type: ignore[arg-type]
