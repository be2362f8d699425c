"""The resume hint names the program as the user typed it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.collect import invoked_as


def test_a_path_not_on_the_path_is_shown_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "bin" / "sellercollection"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert invoked_as(str(script)) == str(script)
    monkeypatch.setenv("PATH", str(script.parent))
    assert invoked_as(str(script)) == "sellercollection"  # what the shell finds by that name


@pytest.mark.parametrize("argv0", ["-c", "", "/somewhere/app/cli/main.py", "__main__"])
def test_through_python_it_is_the_console_script(argv0: str) -> None:
    assert invoked_as(argv0) == "sellercollection"
