"""The layering rules, checked on the real import graph: use cases and SQL know nothing of HTTP."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import app
from app import repositories, services

HTTP_PACKAGES = ("fastapi", "starlette", "sse_starlette")


def _modules(package_path: list[str], prefix: str) -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(package_path, prefix))


# Below the HTTP layer: every service and repository, and the modules they are built on.
PURE_MODULES = [
    *_modules(services.__path__, "app.services."),
    *_modules(repositories.__path__, "app.repositories."),
    "app.errors",
    "app.security",
    "app.models",
    "app.runtime",
]

_PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in %r)))
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


def test_the_module_list_covers_services_and_repositories() -> None:
    assert "app.services.pipeline" in PURE_MODULES and "app.repositories.runs" in PURE_MODULES


def test_services_and_repositories_import_no_http_framework_even_indirectly() -> None:
    assert http_modules_loaded_by(*PURE_MODULES) == []


def test_the_probe_does_see_an_http_import() -> None:
    """The check above could fail: importing the HTTP layer does show up."""
    assert "fastapi" in http_modules_loaded_by("app.deps")
