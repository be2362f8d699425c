"""The OpenAPI document is a contract: it changes only on purpose, with its committed copy.

After an intended API change, regenerate the copy and review its diff:
    SELLERCOLLECTION_WRITE_OPENAPI=1 pytest tests/unit/test_openapi_document.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.config import Settings
from app.main import create_app

COMMITTED = Path(__file__).parent.parent / "openapi.json"


def current_document() -> str:
    return json.dumps(create_app(Settings()).openapi(), indent=2, ensure_ascii=False) + "\n"


def test_the_openapi_document_matches_its_committed_copy() -> None:
    document = current_document()
    if os.environ.get("SELLERCOLLECTION_WRITE_OPENAPI") == "1":
        COMMITTED.write_text(document, encoding="utf-8")
    assert document == COMMITTED.read_text(encoding="utf-8"), (
        "The API's OpenAPI document changed. If that is intended, regenerate tests/openapi.json "
        "(SELLERCOLLECTION_WRITE_OPENAPI=1) and review its diff."
    )


def test_the_document_does_not_depend_on_the_hash_seed() -> None:
    """Two interpreters with different hash seeds build the same bytes (a set once ordered the error statuses)."""
    code = "from tests.unit.test_openapi_document import current_document; print(current_document(), end='')"
    root = Path(__file__).parent.parent.parent
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1
