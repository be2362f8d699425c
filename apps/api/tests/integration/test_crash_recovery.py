"""kill -9 the server mid-run; the restarted server resumes the run by itself and finishes it exactly."""

from __future__ import annotations

import signal
import subprocess
import time

import httpx
import psycopg
import pytest

from tests.support import CLI, child_env, create_token, free_port, wait_healthy


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
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = child_env(
        DATABASE_URL=db_url,
        SELLERCOLLECTION_PROVIDER="demo",
        SELLERCOLLECTION_DEMO_LATENCY_MS="15",
        SELLERCOLLECTION_RUN_LEASE_SECONDS="2",
    )
    token = create_token(env, "crash-org", "crash@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    categories = httpx.Client(base_url=base, headers=headers)

    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE)
    try:
        wait_healthy(base, proc, time.monotonic() + 120)
        catalogue = categories.get("/amazon/categories").json()
        ids = [c["id"] for d in catalogue["departments"] for c in d["categories"]][:8]
        run = categories.post("/collection/runs", json={"name": "crash", "category_ids": ids}).json()
        assert categories.post(f"/collection/runs/{run['id']}/start").status_code == 200
        _poll(
            db_url,
            "SELECT count(*) FROM collection_items WHERE run_id = %s AND kind = 'product' AND status = 'completed'",
            (run["id"],),
            lambda row: row[0] >= 40,
            time.monotonic() + 120,
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    with psycopg.connect(db_url) as conn:
        status = conn.execute(
            "SELECT status, lease_owner IS NOT NULL FROM collection_runs WHERE id = %s", (run["id"],)
        ).fetchone()
    assert status == ("running", True)  # the dead process still "holds" it until the lease runs out

    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE)
    try:
        wait_healthy(base, proc, time.monotonic() + 120)
        _poll(
            db_url,
            "SELECT status FROM collection_runs WHERE id = %s",
            (run["id"],),
            lambda row: row[0] != "running",
            time.monotonic() + 180,
        )
        final = categories.get(f"/collection/runs/{run['id']}").json()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        categories.close()

    assert final["status"] == "completed", final["status_reason"]
    with psycopg.connect(db_url) as conn:
        items = conn.execute(
            "SELECT status, attempts FROM collection_items WHERE run_id = %s AND kind = 'product'", (run["id"],)
        ).fetchall()
        sellers = conn.execute(
            "SELECT count(*), count(DISTINCT normalized_name), count(*) FILTER (WHERE first_seen_run_id = %s) "
            "FROM sellers s JOIN orgs o ON o.id = s.org_id WHERE o.name = 'crash-org'",
            (run["id"],),
        ).fetchone()
    assert {s for s, _ in items} <= {"completed", "skipped"}  # every product was searched
    assert final["products_searched"] == len(items) == final["products_total"]
    repeated = [a for _, a in items if a > 1]
    assert len(repeated) <= 5 and all(a == 2 for a in repeated)  # at most the 5 in flight were repeated
    assert sellers is not None and sellers[0] == sellers[1]  # no seller duplicated
    assert final["sellers_new"] == sellers[2] == sellers[0] == final["seller_count_snapshot"]
