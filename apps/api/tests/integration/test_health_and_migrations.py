from __future__ import annotations

import subprocess
import sys

import psycopg

from app.migrations import apply_migrations
from tests.conftest import LiveServer
from tests.pg import create_database, drop_database, with_dbname


async def test_health_reports_database(live: LiveServer) -> None:
    async with live.client() as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["database"] == "ok"


def test_migrations_apply_to_empty_database_and_again_change_nothing(pg_server_url: str) -> None:
    name = create_database(pg_server_url, prefix="sc_mig")
    url = with_dbname(pg_server_url, name)
    try:
        first = apply_migrations(url)
        assert first[0] == "001_auth"
        assert "045_seller_snapshots" in first
        assert first == sorted(first)
        with psycopg.connect(url) as conn:
            before = conn.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY 1, 2"
            ).fetchall()
        assert apply_migrations(url) == []
        with psycopg.connect(url) as conn:
            after = conn.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY 1, 2"
            ).fetchall()
        assert before == after
    finally:
        drop_database(pg_server_url, name)


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
    code = "import sys; from app.migrations import apply_migrations; print(len(apply_migrations(sys.argv[1])))"
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
