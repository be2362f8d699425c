from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import pytest

from tests.support import CLI, child_env, open_data_dir, served_process


def _env(**extra: str) -> dict[str, str]:
    return child_env(**extra)


def test_create_token_prints_the_token_last_and_revoke_disables_it(db_url: str) -> None:
    env = _env(DATABASE_URL=db_url)
    args = ["create-token", "--org", "cli-org", "--email", "cli@example.com", "--permission", "admin.automation"]
    created = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=True)
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("sc_")
    assert token not in created.stderr  # the log line shows only the prefix

    revoked = subprocess.run([*CLI, "revoke-token", token[:11]], env=env, capture_output=True, text=True, timeout=60)
    assert revoked.returncode == 0, revoked.stderr
    again = subprocess.run([*CLI, "revoke-token", token[:11]], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1


def test_create_token_rejects_unknown_permission(db_url: str) -> None:
    args = ["create-token", "--org", "o", "--email", "e@example.com", "--permission", "admin.everything"]
    result = subprocess.run([*CLI, *args], env=_env(DATABASE_URL=db_url), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Unknown permission" in result.stderr


def _postgres_running_in(pgdata: Path) -> bool:
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        if proc.info["name"] == "postgres" and any(str(pgdata) in part for part in proc.info["cmdline"] or []):
            return True
    return False


@pytest.mark.timeout(240)
def test_serve_on_embedded_postgres_keeps_data_and_stops_cleanly() -> None:
    with open_data_dir("cli-serve") as data_dir:
        _serve_twice_on(data_dir)


def _serve_twice_on(data_dir: Path) -> None:
    env = _env(SELLERCOLLECTION_DATA_DIR=str(data_dir))

    with served_process(env) as first:
        token = first.token("kept", "k@example.com")
        with first.client(token) as api:
            assert api.get("/auth/me").status_code == 200
        first.stop(signal.SIGINT)
    assert not _postgres_running_in(data_dir / "pgdata")

    with served_process(env) as second, second.client(token) as api:
        me = api.get("/auth/me")
        assert me.status_code == 200
        assert me.json()["org_name"] == "kept"
        second.stop(signal.SIGINT)
    assert not _postgres_running_in(data_dir / "pgdata")


def test_settings_come_from_a_dotenv_file_and_the_cli_names_its_database(db_url: str, tmp_path: Path) -> None:
    # The URL only in ./.env, as a second terminal would find it; the password never shows.
    parts = urlsplit(db_url)
    shown_url = urlunsplit(parts._replace(netloc=f"{parts.username}:s3cret@{parts.netloc.split('@', 1)[1]}"))
    (tmp_path / ".env").write_text(f"DATABASE_URL={shown_url}\nSELLERCOLLECTION_LOG_LEVEL=WARNING\n")
    result = subprocess.run([*CLI, "migrate"], env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    dbname = db_url.rsplit("/", 1)[-1].split("?")[0]
    assert "Database: postgresql://postgres:***@" in result.stderr and dbname in result.stderr
    assert "s3cret" not in result.stderr
    assert "Database is up to date." in result.stderr


def test_a_bad_setting_stops_a_command_with_its_name_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SELLERCOLLECTION_LOG_LEVEL=LOUD\n")
    result = subprocess.run(
        [*CLI, "migrate"], env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=60
    )  # fmt: skip
    said = result.stdout + result.stderr
    assert result.returncode == 2, said
    assert "SELLERCOLLECTION_LOG_LEVEL='LOUD'" in said and "Traceback" not in said
