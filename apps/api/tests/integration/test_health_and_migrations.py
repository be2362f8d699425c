from __future__ import annotations

import difflib
import os
import subprocess
import sys

import psycopg

from app.db.migrations import apply_migrations
from tests.support import EXPECTED_SCHEMA, LiveServer, create_database, describe_schema, drop_database, with_dbname


async def test_health_reports_database(live: LiveServer) -> None:
    async with live.client() as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["database"] == "ok"


def test_migrations_build_exactly_the_expected_schema_and_a_second_pass_changes_nothing(pg_server_url: str) -> None:
    """The migrated schema, described table by table, is the checked-in one.

    After an intended schema change, regenerate the description and review its diff:
    UPDATE_EXPECTED_SCHEMA=1 .venv/bin/pytest apps/api/tests/integration/test_health_and_migrations.py
    """
    name = create_database(pg_server_url, prefix="sc_mig")
    url = with_dbname(pg_server_url, name)
    try:
        first = apply_migrations(url)
        assert first[0] == "001_auth" and "045_seller_snapshots" in first and first == sorted(first)
        migrated = describe_schema(url)
        if os.environ.get("UPDATE_EXPECTED_SCHEMA") and not os.environ.get("CI"):
            EXPECTED_SCHEMA.write_text(migrated)
        expected = EXPECTED_SCHEMA.read_text()
        diff = "".join(
            difflib.unified_diff(expected.splitlines(True), migrated.splitlines(True), "expected", "migrated")
        )
        assert diff == "", f"the migrated schema differs from {EXPECTED_SCHEMA.name}:\n{diff}"
        assert apply_migrations(url) == []
        assert describe_schema(url) == migrated
    finally:
        drop_database(pg_server_url, name)


def test_the_schema_description_sees_a_change(pg_server_url: str, template_db: str) -> None:
    """The comparison above could fail: a changed default and a new index show up in the description."""
    name = create_database(pg_server_url, prefix="sc_mig", template=template_db)
    url = with_dbname(pg_server_url, name)
    try:
        before = describe_schema(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER TABLE sellers ALTER COLUMN times_seen SET DEFAULT 2")
            conn.execute("CREATE INDEX sellers_probe_idx ON sellers (platform_id)")
        changed = set(describe_schema(url).splitlines()) ^ set(before.splitlines())
    finally:
        drop_database(pg_server_url, name)
    assert any("times_seen integer NOT NULL DEFAULT 2" in line for line in changed)
    assert any("sellers_probe_idx" in line for line in changed)


def test_seller_count_snapshot_columns_exist_with_comments(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            """
            SELECT c.table_name, c.data_type,
                   col_description(c.table_name::regclass, c.ordinal_position) AS comment
            FROM information_schema.columns c
            WHERE c.table_schema = 'public' AND c.column_name = 'seller_count_snapshot'
            ORDER BY c.table_name
            """
        ).fetchall()
    assert rows == [
        ("collection_runs", "integer", "Total seller count in org when this run completed"),
        ("seller_audit_log", "integer", "Total seller count in org after this change"),
    ]


def test_two_processes_migrating_at_once_both_succeed(pg_server_url: str) -> None:
    name = create_database(pg_server_url, prefix="sc_race")
    url = with_dbname(pg_server_url, name)
    code = "import sys; from app.db.migrations import apply_migrations; print(len(apply_migrations(sys.argv[1])))"
    try:
        procs = [
            subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        results = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [r[1].decode() for r in results]
        counts = sorted(int(out.decode().strip()) for out, _ in results)
        # One process applied everything; the other waited its turn and found nothing to do.
        assert counts[0] == 0
        assert counts[1] >= 4
        assert apply_migrations(url) == []
    finally:
        drop_database(pg_server_url, name)
