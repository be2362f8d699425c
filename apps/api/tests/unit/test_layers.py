"""The layering rules: use cases and SQL know nothing of HTTP, and repositories hand out typed rows."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import app
from app import repositories

HTTP_PACKAGES = ("fastapi", "starlette", "sse_starlette")
# What "knows HTTP": the frameworks, and our own HTTP layer.
HTTP_MODULES = (*HTTP_PACKAGES, "app.http")


def _package_modules(package: str) -> list[str]:
    """Every module of a package, its subpackages included (a new module is covered without naming it)."""
    root = importlib.import_module(package)
    found = [package]
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        found.append(info.name)
    return sorted(found)


# One rule per package: nothing below the HTTP layer imports it, directly or through another module.
PURE_PACKAGES = ("app.services", "app.repositories", "app.scrapers", "app.db")
# The shared root modules every layer may import must stay free of HTTP too.
PURE_ROOT_MODULES = (
    "app.config",
    "app.errors",
    "app.security",
    "app.models",
    "app.status",
    "app.runtime",
    "app.metrics",
)
PURE_MODULES = [*(m for package in PURE_PACKAGES for m in _package_modules(package)), *PURE_ROOT_MODULES]

_PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
frameworks = %r
ours = [m for m in sys.modules if m == "app.http" or m.startswith("app.http.")]
print(json.dumps(sorted([m for m in sys.modules if m.split(".")[0] in frameworks] + ours)))
"""


def http_modules_loaded_by(*modules: str) -> list[str]:
    """The HTTP framework modules a fresh interpreter has loaded after importing `modules`.

    A fresh interpreter, so nothing the test run itself imported hides a violation.
    """
    done = subprocess.run(
        [sys.executable, "-c", _PROBE % (set(HTTP_PACKAGES),), *modules],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(Path(app.__file__).parent.parent), "PATH": "/usr/bin:/bin"},
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_the_module_lists_cover_subpackages() -> None:
    assert "app.services.runs.pipeline" in PURE_MODULES and "app.repositories.runs" in PURE_MODULES
    assert "app.services.scheduling.scheduler" in PURE_MODULES and "app.db.embedded" in PURE_MODULES


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_no_package_below_http_imports_it_even_indirectly(package: str) -> None:
    assert http_modules_loaded_by(*_package_modules(package)) == []


def test_the_shared_root_modules_import_no_http() -> None:
    assert http_modules_loaded_by(*PURE_ROOT_MODULES) == []


def test_the_probe_does_see_an_http_import() -> None:
    """The checks above could fail: importing the HTTP layer, or a router, does show up."""
    assert "fastapi" in http_modules_loaded_by("app.http.deps")
    assert "app.http.deps" in http_modules_loaded_by("app.routers.health")


# Who may import our HTTP layer at all: itself, the routers, and the app that wires them.
HTTP_IMPORTERS = ("app.http", "app.routers", "app.main")


def _imported_modules(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def http_importers(source_root: Path) -> list[str]:
    """Modules under `source_root` (the `app` package) that import `app.http`, other than the allowed ones."""
    found = []
    for path in sorted(source_root.rglob("*.py")):
        module = ".".join(("app", *path.relative_to(source_root).with_suffix("").parts)).removesuffix(".__init__")
        if any(module == allowed or module.startswith(allowed + ".") for allowed in HTTP_IMPORTERS):
            continue
        imported = _imported_modules(ast.parse(path.read_text()))
        if any(name == "app.http" or name.startswith("app.http.") for name in imported):
            found.append(module)
    return found


def test_only_the_routers_and_main_import_the_http_layer() -> None:
    assert http_importers(Path(app.__file__).parent) == []


def test_the_importer_check_sees_each_spelling(tmp_path: Path) -> None:
    for name, source in {
        "a": "from app.http.deps import PoolDep",
        "b": "import app.http.state",
        "c": "from app import http",
        "d": "from app.http import deps",
    }.items():
        (tmp_path / "services").mkdir(exist_ok=True)
        (tmp_path / "services" / f"{name}.py").write_text(source + "\n")
    (tmp_path / "routers").mkdir()
    (tmp_path / "routers" / "ok.py").write_text("from app.http.deps import PoolDep\n")
    assert http_importers(tmp_path) == ["app.services.a", "app.services.b", "app.services.c", "app.services.d"]


def _public_functions(module_file: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(module_file.read_text())
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    # Private helpers build query text and parameters; what callers get is what counts.
    return [f for f in functions if not f.name.startswith("_")]


def test_no_repository_function_returns_untyped_rows() -> None:
    untyped = []
    for module_file in sorted(Path(repositories.__path__[0]).glob("*.py")):
        for function in _public_functions(module_file):
            returns = ast.unparse(function.returns) if function.returns else "(none)"
            if "dict[str, Any]" in returns or "DictRow" in returns or returns == "(none)":
                untyped.append(f"{module_file.name}:{function.name} -> {returns}")
    assert untyped == []


def test_the_check_above_notices_a_dict_row() -> None:
    source = "async def get(conn) -> dict[str, Any] | None: ..."
    [function] = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.AsyncFunctionDef)]
    assert function.returns is not None and "dict[str, Any]" in ast.unparse(function.returns)
