"""No function in the application is longer than a screen: over 60 lines, it is doing more than one thing."""

from __future__ import annotations

import ast
from pathlib import Path

import app

MAX_LINES = 60


def long_functions(source_root: Path, limit: int = MAX_LINES) -> list[str]:
    """`path:line name (N lines)` for every function or method over `limit` lines, decorators not counted."""
    found = []
    for path in sorted(source_root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(source_root)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_in_src_is_over_60_lines() -> None:
    assert long_functions(Path(app.__file__).parent) == []


def test_the_check_finds_long_methods_and_nested_functions(tmp_path: Path) -> None:
    lines = "\n".join(f"        x{i} = {i}" for i in range(60))
    source = f"class C:\n    async def method(self):\n{lines}\n\n\ndef outer():\n    def inner():\n{lines}\n"
    (tmp_path / "m.py").write_text(source)
    assert sorted(long_functions(tmp_path)) == [
        "m.py:2 method (61 lines)",
        "m.py:65 outer (62 lines)",
        "m.py:66 inner (61 lines)",
    ]
    assert long_functions(tmp_path, limit=62) == []
