"""kill -9 the server mid-run; the restarted server resumes the run by itself and finishes it exactly."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.support import create_token, demo_env, finished_exactly, served_process, start_served_run


def _poll(db_url: str, sql: str, params: tuple[object, ...], done: object, deadline: float) -> None:
    # Another process does the work; its progress is only visible in the database. Bounded by the deadline.
    while time.monotonic() < deadline:
        with psycopg.connect(db_url) as conn:
            row = conn.execute(sql, params).fetchone()
        if row is not None and done(row):  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {sql}")


@pytest.mark.timeout(300)
def test_kill_9_mid_run_then_restart_resumes_and_completes_exactly(db_url: str) -> None:
    env = demo_env(db_url, SELLERCOLLECTION_DEMO_LATENCY_MS="15", SELLERCOLLECTION_RUN_LEASE_SECONDS="2")
    token = create_token(env, "crash-org", "crash@example.com")

    with served_process(env) as first, first.client(token) as api:
        run = start_served_run(api, "crash", categories=8)
        _poll(
            db_url,
            "SELECT count(*) FROM collection_items WHERE run_id = %s AND kind = 'product' AND status = 'completed'",
            (run["id"],),
            lambda row: row[0] >= 40,
            time.monotonic() + 120,
        )
        first.kill9()

    with psycopg.connect(db_url) as conn:
        status = conn.execute(
            "SELECT status, lease_owner IS NOT NULL FROM collection_runs WHERE id = %s", (run["id"],)
        ).fetchone()
    assert status == ("running", True)  # the dead process still "holds" it until the lease runs out

    with served_process(env, port=first.port) as second, second.client(token) as api:
        _poll(
            db_url,
            "SELECT status FROM collection_runs WHERE id = %s",
            (run["id"],),
            lambda row: row[0] != "running",
            time.monotonic() + 180,
        )
        final = api.get(f"/collection/runs/{run['id']}").json()

    # In flight at the kill: each worker's product being searched, and the one its writer was committing.
    record = finished_exactly(db_url, final, "crash-org", repeats_at_most=10)
    assert all(a == 2 for _, a in record.items if a > 1)  # each repeated once
    assert final["sellers_new"] == record.first_seen_in_run == record.sellers == final["seller_count_snapshot"]
