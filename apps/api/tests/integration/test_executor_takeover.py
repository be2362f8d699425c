"""A server on the host of a dead executor takes its runs over at once, without waiting out the lease."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid

import psycopg

from app.repositories import runs as runs_repo
from tests.support import LiveServer, TokenFactory


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return int(proc.stdout)


async def running_run_leased_to(live: LiveServer, org_id: uuid.UUID, db_url: str, owner: str) -> uuid.UUID:
    async with live.database.pool.connection() as conn:
        run = await runs_repo.insert_run(
            conn, org_id=org_id, name="orphan", category_ids=["electronics-computers"], created_by=None
        )
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE collection_runs SET status = 'running', started_at = now(), lease_owner = %s, "
            "lease_expires_at = now() + interval '1 hour' WHERE id = %s",
            (owner, run.id),
        )
    run_id: uuid.UUID = run.id
    return run_id


def lease_owner(db_url: str, run_id: uuid.UUID) -> str | None:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT lease_owner FROM collection_runs WHERE id = %s", (run_id,)).fetchone()
    assert row is not None
    owner: str | None = row[0]
    return owner


async def test_runs_of_a_dead_executor_on_this_host_are_taken_over_at_once(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    me = await make_identity()
    executor = live.runtime.executor
    dead_owner = f"{socket.gethostname()}:{dead_pid()}:dead0001"
    dead_here = await running_run_leased_to(live, me.org_id, db_url, dead_owner)
    elsewhere = await running_run_leased_to(live, me.org_id, db_url, "another-host:4242:live0001")
    await executor.adopt_orphans()
    # Ours now (or already finished by us, which clears the lease); no longer the dead executor's.
    assert lease_owner(db_url, dead_here) in (executor.owner, None)
    assert lease_owner(db_url, elsewhere) == "another-host:4242:live0001"  # a live lease elsewhere is left alone
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE collection_runs SET status = 'cancelled', lease_owner = NULL WHERE id = %s", (elsewhere,))
