"""Options whose values are an enum or a registry take their choices from it, in its order, never spelled out."""

from __future__ import annotations

import ast
import enum
from pathlib import Path

import click

from benchmark.cli import main
from benchmark.diffusion.sampling import Sampler
from benchmark.evaluation.distances import PRArithmetic
from runners.presets import PRESETS

CLI_DIR = Path(__file__).resolve().parents[2] / "benchmark" / "cli"
ENUMS: tuple[type[enum.Enum], ...] = (Sampler, PRArithmetic)


def _choices(command: str, option: str) -> list[str]:
    param = next(p for p in main.commands[command].params if option in p.opts)
    assert isinstance(param.type, click.Choice)
    return list(param.type.choices)


def test_choices_are_the_enum_values_and_the_preset_names():
    assert _choices("sample", "--sampler") == [s.value for s in Sampler] == ["ddpm", "ddim"]
    assert _choices("evaluate", "--pr-arithmetic") == [a.value for a in PRArithmetic] == ["gpu-tf", "cpu-tf", "fp32"]
    assert _choices("reproduce", "--preset") == list(PRESETS)


def test_no_command_spells_out_an_enums_values():
    spelled: list[str] = []
    for path in sorted(CLI_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Choice" and node.args):
                continue
            literal = node.args[0]
            if isinstance(literal, ast.List) and all(isinstance(e, ast.Constant) for e in literal.elts):
                values = {e.value for e in literal.elts}
                spelled += [f"{path.name}: {e.__name__}" for e in ENUMS if values == {m.value for m in e}]
                spelled += [f"{path.name}: PRESETS"] if values == set(PRESETS) else []
    assert spelled == []
