"""The pool never lends out a connection that its last user left in pipeline mode.

A worker cancelled while it leaves `conn.pipeline()` (the breaker cancels a run's workers) could
hand its connection back still in pipeline mode. The next borrower's statements were then queued
instead of run: `rowcount` read -1, so the executor believed its pause had not happened and never
announced it (a flaky `test_consecutive_upstream_failures_pause_the_run_with_a_reason`).
"""

from __future__ import annotations

from psycopg import pq

from app.db.pool import make_pool


async def test_a_connection_returned_in_pipeline_mode_is_not_lent_again(db_url: str) -> None:
    pool = make_pool(db_url, min_size=1, max_size=1)
    await pool.open(wait=True)
    try:
        async with pool.connection() as conn:
            leaked = conn
            conn.pgconn.enter_pipeline_mode()  # what a cancelled `conn.pipeline()` exit can leave behind
        async with pool.connection() as conn:
            assert conn is not leaked
            assert conn.pgconn.pipeline_status == pq.PipelineStatus.OFF
            cur = await conn.execute("UPDATE collection_runs SET updated_at = now() WHERE false")
            assert cur.rowcount == 0  # -1 in pipeline mode: the statement would not have run yet
        assert leaked.closed
    finally:
        await pool.close()
