"""The command line's org: the only one there is, or the one named, never one made up; and what it prints.

Each test has a database of its own (migrated, no org yet), so "how many orgs exist" is the test's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support import CLI, child_env, create_database, create_token, drop_database, open_data_dir, with_dbname

CATEGORIES = "electronics-computers,baby-feeding,beauty-makeup,auto-car-care"
LISTS = ("presets", "schedules")


@pytest.fixture
def empty_db(pg_server_url: str, template_db: str) -> Iterator[str]:
    name = create_database(pg_server_url, prefix="sc_cli_org", template=template_db)
    yield with_dbname(pg_server_url, name)
    drop_database(pg_server_url, name)


def _env(db_url: str, **extra: str) -> dict[str, str]:
    demo = {"SELLERCOLLECTION_PROVIDER": "demo", "SELLERCOLLECTION_DEMO_LATENCY_MS": "2"}
    return child_env(DATABASE_URL=db_url, **demo, **extra)


def _cli(db_url: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=_env(db_url, **extra), capture_output=True, text=True, timeout=120)


def _orgs(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM orgs ORDER BY name").fetchall()]


def _runs_by_org(db_url: str) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT o.name, count(*) FROM collection_runs r JOIN orgs o ON o.id = r.org_id GROUP BY 1"
        ).fetchall()
    return dict(rows)


def test_without_an_org_every_command_says_so_and_creates_none(empty_db: str) -> None:
    for args in (("collect", "--categories", CATEGORIES), *((name,) for name in LISTS)):
        result = _cli(empty_db, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert "There is no org yet: name one with --org NAME" in result.stderr, args
        assert "Traceback" not in result.stderr
    assert _orgs(empty_db) == []
    assert _runs_by_org(empty_db) == {}


def test_the_only_org_is_used_and_named(empty_db: str) -> None:
    create_token(_env(empty_db), "Solo team", "solo@example.com")
    collected = _cli(empty_db, "collect", "--categories", CATEGORIES)
    assert collected.returncode == 0, collected.stderr
    assert _orgs(empty_db) == ["Solo team"] and _runs_by_org(empty_db) == {"Solo team": 1}

    out = collected.stdout
    assert re.search(r"│ Org\s+Solo team\s", out), out[-2000:]
    # Numbers with thousands separators, as the run row has them.
    with psycopg.connect(empty_db) as conn:
        found, new, requests = conn.execute(
            "SELECT sellers_found, sellers_new, "
            "(SELECT sum(value::int) FROM jsonb_each(upstream_requests -> 'demo')) FROM collection_runs"
        ).fetchone()
    assert found >= 1000
    assert f"{found:,} found, {new:,} new" in out
    assert f"Requests        {requests:,} (" in out

    presets = _cli(empty_db, "presets")
    assert presets.returncode == 0 and "Presets of Solo team" in presets.stdout
    schedules = _cli(empty_db, "schedules")
    assert schedules.returncode == 0 and "Org 'Solo team' has no schedules" in schedules.stdout


def test_with_two_orgs_a_command_lists_them_until_one_is_named(empty_db: str) -> None:
    for org in ("Beta", "Alpha"):
        create_token(_env(empty_db), org, "two@example.com")
    for args in (("collect", "--categories", CATEGORIES), *((name,) for name in LISTS)):
        result = _cli(empty_db, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert "There are several orgs; name one with --org: 'Alpha', 'Beta'" in result.stderr, args
    assert _runs_by_org(empty_db) == {}

    for name in LISTS:
        named = _cli(empty_db, name, "--org", "Beta")
        assert named.returncode == 0, named.stderr
        unknown = _cli(empty_db, name, "--org", "Gamma")
        assert unknown.returncode == 2
        assert "No org named 'Gamma'; the orgs are: 'Alpha', 'Beta'" in unknown.stderr
    collected = _cli(empty_db, "collect", "--categories", "baby-feeding", "--org", "Beta")
    assert collected.returncode == 0, collected.stderr
    assert _runs_by_org(empty_db) == {"Beta": 1}
    assert "Created the org" not in collected.stdout

    # An org the user names is theirs to create, and the command says it did.
    created = _cli(empty_db, "collect", "--categories", "baby-feeding", "--org", "Gamma")
    assert created.returncode == 0, created.stderr
    assert "Created the org 'Gamma', as --org named it." in created.stdout
    assert _orgs(empty_db) == ["Alpha", "Beta", "Gamma"]


def test_the_resume_hint_is_the_command_as_typed(empty_db: str, tmp_path: Path) -> None:
    create_token(_env(empty_db), "Hint team", "hint@example.com")
    script = Path(sys.executable).parent / "sellercollection"
    # Every request fails: the failure breaker pauses the run at once, and the command says how to resume.
    failing = {"SELLERCOLLECTION_DEMO_ERROR_RATE": "1", "SELLERCOLLECTION_UPSTREAM_ATTEMPTS": "1"}
    for path_dirs, typed, cwd in (
        ("/usr/bin:/bin", os.path.relpath(script, tmp_path), tmp_path),  # a path: shown as typed
        (f"{script.parent}:/usr/bin:/bin", "sellercollection", tmp_path),  # found on the PATH: its name
    ):
        env = _env(empty_db, PATH=path_dirs, **failing)
        result = subprocess.run(
            [typed, "collect", "--categories", CATEGORIES + ",appliances-microwaves"], env=env, cwd=cwd,
            capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert result.returncode == 1, result.stderr
        hint = re.search(r"Resume with: (.+) collect --resume ([0-9a-f-]{36})", result.stdout)
        assert hint is not None, result.stdout[-1500:]
        assert hint.group(1) == typed


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with open_data_dir("cli-verbose") as folder:
        yield folder


def test_log_lines_of_the_embedded_database_only_with_verbose(data_dir: Path) -> None:
    env = child_env(SELLERCOLLECTION_DATA_DIR=str(data_dir))
    quiet = subprocess.run([*CLI, "schedules"], env=env, capture_output=True, text=True, timeout=180)
    verbose = subprocess.run([*CLI, "schedules", "--verbose"], env=env, capture_output=True, text=True, timeout=180)
    assert quiet.returncode == verbose.returncode == 2  # no org yet
    assert "Database: embedded PostgreSQL" in quiet.stderr
    assert " INFO " not in quiet.stderr, quiet.stderr
    assert "INFO app.db.embedded: starting embedded PostgreSQL" in verbose.stderr
    assert "There is no org yet" in quiet.stderr and "There is no org yet" in verbose.stderr
