"""Which folders above the data the embedded server's own user could not reach, and how the data folder is made."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app.db import folder_modes
from app.db.folder_modes import make_data_dir, private_parents, refuse_private_parents
from app.errors import Misconfigured


def mode(folder: Path) -> int:
    return stat.S_IMODE(folder.stat().st_mode)


def test_private_parents_names_every_folder_group_or_others_cannot_read_and_search(tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / "a" / "b" / "c").mkdir(parents=True)
    for folder, m in ((base, 0o755), (base / "a", 0o711), (base / "a" / "b", 0o750), (base / "a" / "b" / "c", 0o755)):
        folder.chmod(m)
    found = {(f.path, f.mode) for f in private_parents(base / "a" / "b" / "c" / "pgdata")}
    assert {(base / "a", 0o711), (base / "a" / "b", 0o750)} <= found
    assert not any(path in (base, base / "a" / "b" / "c") for path, _ in found)


def test_make_data_dir_makes_new_folders_open_whatever_the_umask_and_leaves_old_ones(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    old = os.umask(0o077)
    try:
        make_data_dir(tmp_path / "new" / "data")
    finally:
        os.umask(old)
    assert mode(tmp_path / "new") == 0o755 and mode(tmp_path / "new" / "data") == 0o755
    assert mode(tmp_path) == 0o700


def test_refusal_names_the_folder_and_the_ways_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private = tmp_path / "home"
    (private / "data").mkdir(parents=True)
    private.chmod(0o700)
    monkeypatch.setattr(folder_modes, "as_root", lambda: True)
    with pytest.raises(Misconfigured) as raised:
        refuse_private_parents(private / "data" / "pgdata")
    assert f"{private} (0700)" in raised.value.detail and "private" in raised.value.detail
    assert "DATABASE_URL" in raised.value.detail and f"chmod g+rx,o+rx {private}" in raised.value.detail
    assert mode(private) == 0o700
    monkeypatch.setattr(folder_modes, "as_root", lambda: False)
    refuse_private_parents(private / "data" / "pgdata")  # not as root the wheel opens nothing: no check
