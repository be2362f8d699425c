"""SQL for collection runs: lifecycle transitions, counters and the executor lease."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from app.db import Conn

TERMINAL_STATUSES = ("completed", "failed", "cancelled")

# The org's seller count and journal position right now: recorded whenever a run stops, so its
# history entry can show "sellers at this point" (see migration 047).
_STOP_SNAPSHOT = """
    seller_count_snapshot = coalesce((SELECT c.n FROM org_seller_counts c WHERE c.org_id = r.org_id), 0),
    journal_seq = coalesce((SELECT c.journal_seq FROM org_seller_counts c WHERE c.org_id = r.org_id), 0)
"""
OPEN_STATUSES = ("pending", "running", "paused")
COUNTERS = (
    "categories_completed",
    "products_total",
    "products_searched",
    "sellers_found",
    "sellers_new",
    "failed_items",
)


async def insert_run(
    conn: Conn,
    *,
    org_id: UUID,
    name: str,
    category_ids: list[str],
    created_by: UUID | None,
    provider: str = "demo",
    categories_total: int = 0,
) -> dict[str, Any]:
    row = await (
        await conn.execute(
            """
            INSERT INTO collection_runs (org_id, name, category_ids, created_by, provider, categories_total)
            VALUES (%(org_id)s, %(name)s, %(category_ids)s, %(created_by)s, %(provider)s, %(categories_total)s)
            RETURNING *
            """,
            {
                "org_id": org_id,
                "name": name,
                "category_ids": category_ids,
                "created_by": created_by,
                "provider": provider,
                "categories_total": categories_total,
            },
        )
    ).fetchone()
    assert row is not None
    return row


async def get_run(conn: Conn, *, org_id: UUID, run_id: UUID, for_update: bool = False) -> dict[str, Any] | None:
    lock = " FOR UPDATE" if for_update else ""
    return await (
        await conn.execute(
            f"SELECT * FROM collection_runs WHERE id = %(run_id)s AND org_id = %(org_id)s{lock}",
            {"run_id": run_id, "org_id": org_id},
        )
    ).fetchone()


async def get_run_unscoped(conn: Conn, *, run_id: UUID) -> dict[str, Any] | None:
    """For the executor, which acts for whichever org owns the run."""
    return await (await conn.execute("SELECT * FROM collection_runs WHERE id = %(id)s", {"id": run_id})).fetchone()


async def count_open_runs_locked(conn: Conn, *, org_id: UUID) -> int:
    """Open runs of the org, holding the org row lock so concurrent creates count one at a time."""
    await conn.execute("SELECT 1 FROM orgs WHERE id = %(org_id)s FOR UPDATE", {"org_id": org_id})
    row = await (
        await conn.execute(
            "SELECT count(*) AS n FROM collection_runs WHERE org_id = %(org_id)s AND status = ANY(%(open)s)",
            {"org_id": org_id, "open": list(OPEN_STATUSES)},
        )
    ).fetchone()
    assert row is not None
    n: int = row["n"]
    return n


async def list_runs(conn: Conn, *, org_id: UUID, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    rows = await (
        await conn.execute(
            """
            SELECT * FROM collection_runs WHERE org_id = %(org_id)s
            ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
            """,
            {"org_id": org_id, "limit": limit, "offset": offset},
        )
    ).fetchall()
    total = await (
        await conn.execute("SELECT count(*) AS n FROM collection_runs WHERE org_id = %(org_id)s", {"org_id": org_id})
    ).fetchone()
    assert total is not None
    return rows, int(total["n"])


async def set_status(conn: Conn, *, run_id: UUID, status: str, reason: str | None = None) -> dict[str, Any]:
    """Move a run to `status`, stamping the matching time column. The caller checked the transition."""
    stopping = status not in ("pending", "running")
    snapshot = f", {_STOP_SNAPSHOT}" if stopping else ""
    row = await (
        await conn.execute(
            f"""
            UPDATE collection_runs r SET
                status = %(status)s,
                status_reason = %(reason)s,
                started_at = CASE WHEN %(status)s = 'running' THEN coalesce(started_at, now()) ELSE started_at END,
                paused_at = CASE WHEN %(status)s = 'paused' THEN now() ELSE NULL END,
                completed_at = CASE WHEN %(status)s IN ('completed', 'failed', 'cancelled') THEN now()
                               ELSE completed_at END,
                lease_owner = CASE WHEN %(status)s = 'running' THEN lease_owner ELSE NULL END,
                lease_expires_at = CASE WHEN %(status)s = 'running' THEN lease_expires_at ELSE NULL END,
                updated_at = now(){snapshot}
            WHERE id = %(run_id)s
            RETURNING *
            """,
            {"run_id": run_id, "status": status, "reason": reason},
        )
    ).fetchone()
    assert row is not None
    return row


async def stop_if_running(conn: Conn, *, run_id: UUID, owner: str, status: str, reason: str | None) -> bool:
    """Executor-side stop (pause on failures, fail): only while it still holds the running run."""
    cur = await conn.execute(
        f"""
        UPDATE collection_runs r SET
            status = %(status)s, status_reason = %(reason)s, {_STOP_SNAPSHOT},
            paused_at = CASE WHEN %(status)s = 'paused' THEN now() ELSE NULL END,
            completed_at = CASE WHEN %(status)s = 'failed' THEN now() ELSE completed_at END,
            lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE id = %(run_id)s AND status = 'running' AND lease_owner = %(owner)s
        """,
        {"run_id": run_id, "owner": owner, "status": status, "reason": reason},
    )
    return cur.rowcount == 1


async def complete_run(conn: Conn, *, run_id: UUID, owner: str) -> dict[str, Any] | None:
    """Mark the run completed with the org's seller count at this moment, in one statement."""
    return await (
        await conn.execute(
            f"""
            UPDATE collection_runs r SET
                status = 'completed', phase = 'done', completed_at = now(), status_reason = NULL, {_STOP_SNAPSHOT},
                lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
            WHERE id = %(run_id)s AND status = 'running' AND lease_owner = %(owner)s
            RETURNING *
            """,
            {"run_id": run_id, "owner": owner},
        )
    ).fetchone()


async def set_phase(conn: Conn, *, run_id: UUID, phase: str) -> None:
    await conn.execute(
        "UPDATE collection_runs SET phase = %(phase)s, updated_at = now() WHERE id = %(run_id)s",
        {"run_id": run_id, "phase": phase},
    )


async def add_counters(conn: Conn, *, run_id: UUID, **deltas: int) -> None:
    """Add to the run's counters. Returns nothing, so in pipeline mode it costs no round trip of its own."""
    unknown = set(deltas) - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown counters: {unknown}")
    assignments = ", ".join(f"{name} = {name} + %({name})s" for name in deltas)
    await conn.execute(
        f"UPDATE collection_runs SET {assignments}, updated_at = now() WHERE id = %(run_id)s",
        {"run_id": run_id, **deltas},
    )


async def claim_lease(conn: Conn, *, run_id: UUID, owner: str, ttl_seconds: float) -> dict[str, Any] | None:
    """Take the run's lease if it is running and free, expired, or already ours."""
    return await (
        await conn.execute(
            """
            UPDATE collection_runs SET lease_owner = %(owner)s,
                lease_expires_at = now() + make_interval(secs => %(ttl)s)
            WHERE id = %(run_id)s AND status = 'running'
              AND (lease_owner IS NULL OR lease_owner = %(owner)s OR lease_expires_at < now())
            RETURNING *
            """,
            {"run_id": run_id, "owner": owner, "ttl": ttl_seconds},
        )
    ).fetchone()


async def release_leases(conn: Conn, *, owner: str) -> None:
    """Hand back every lease `owner` holds (its runs stay `running`, for another executor to adopt)."""
    await conn.execute(
        "UPDATE collection_runs SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = %(owner)s",
        {"owner": owner},
    )


async def renew_leases(conn: Conn, *, owner: str, run_ids: list[UUID], ttl_seconds: float) -> set[UUID]:
    """Extend our leases; runs missing from the result are no longer ours to execute."""
    if not run_ids:
        return set()
    rows = await (
        await conn.execute(
            """
            UPDATE collection_runs SET lease_expires_at = now() + make_interval(secs => %(ttl)s)
            WHERE id = ANY(%(ids)s) AND status = 'running' AND lease_owner = %(owner)s
            RETURNING id
            """,
            {"ids": run_ids, "owner": owner, "ttl": ttl_seconds},
        )
    ).fetchall()
    return {row["id"] for row in rows}


async def orphaned_running_runs(conn: Conn) -> list[UUID]:
    """Running runs nobody executes: no lease, or a lease its owner stopped renewing."""
    rows = await (
        await conn.execute(
            """
            SELECT id FROM collection_runs
            WHERE status = 'running' AND (lease_owner IS NULL OR lease_expires_at < now())
            ORDER BY started_at
            """
        )
    ).fetchall()
    return [row["id"] for row in rows]


async def list_finished_runs(conn: Conn, *, org_id: UUID, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    rows = await (
        await conn.execute(
            """
            SELECT *, extract(epoch FROM completed_at - started_at) AS duration_seconds,
                   cardinality(category_ids) AS categories_count
            FROM collection_runs
            WHERE org_id = %(org_id)s AND status = ANY(%(finished)s)
            ORDER BY completed_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
            """,
            {"org_id": org_id, "finished": list(TERMINAL_STATUSES), "limit": limit, "offset": offset},
        )
    ).fetchall()
    total = await (
        await conn.execute(
            "SELECT count(*) AS n FROM collection_runs WHERE org_id = %(org_id)s AND status = ANY(%(finished)s)",
            {"org_id": org_id, "finished": list(TERMINAL_STATUSES)},
        )
    ).fetchone()
    assert total is not None
    return rows, int(total["n"])
