"""benchmark.compat is a leaf: native code never imports it (the perf baseline, which measures it, aside)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NATIVE = [ROOT / "cli.py", *sorted((ROOT / "benchmark").rglob("*.py")), *sorted((ROOT / "runners").rglob("*.py")),
          *sorted((ROOT / "reports").rglob("*.py"))]  # fmt: skip
# The perf suite times the native samplers against the reference API: its baseline is compat by definition.
MEASURES_COMPAT = {ROOT / "benchmark" / "perf" / "diffusion.py"}


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_native_module_imports_compat():
    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in _imported_modules(path) if n.split(".")[:2] == ["benchmark", "compat"])
        for path in NATIVE
        if (ROOT / "benchmark" / "compat") not in path.parents and path not in MEASURES_COMPAT
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_native_tree_is_found():
    assert (ROOT / "runners" / "gd_checkpoint.py") in NATIVE and len(NATIVE) > 50
