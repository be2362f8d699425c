"""SQL for collection runs: lifecycle transitions, counters and the executor lease."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from app.db.pool import Conn, columns, fetch_all, fetch_one, fetch_scalar, fetch_scalars
from app.models import Refresh, RunSettingsOut, RunTrigger
from app.repositories.query import fetch_org_row, insert_one
from app.status import OPEN_STATUSES, TERMINAL_STATUSES, RunPhase, RunStatus


@dataclass(frozen=True, slots=True)
class RunRow:
    id: UUID
    org_id: UUID
    name: str
    status: RunStatus
    phase: RunPhase
    status_reason: str | None
    category_ids: list[str]
    provider: str
    categories_total: int
    categories_completed: int
    products_total: int
    products_searched: int
    sellers_found: int
    sellers_new: int
    failed_items: int
    upstream_requests: dict[str, dict[str, int]]
    upstream_cost: Decimal
    ebay_pages_skipped: int
    # Migration 076: listings on the result pages read, and those with a readable seller line.
    listings_read: int
    listings_with_seller: int
    seller_count_snapshot: int | None
    journal_seq: int | None
    created_by: UUID | None
    created_at: datetime
    started_at: datetime | None
    paused_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    # Migration 060: the highest activity-event id any executor may have used, and the executing
    # process's worker lanes (for progress asked of another process).
    event_seq_reserved: int
    worker_lanes: list[dict[str, Any]] | None
    worker_lanes_at: datetime | None
    trigger: RunTrigger
    preset_id: UUID | None
    schedule_id: UUID | None
    # The org's settings the run was created with, and runs with (JSON). NULL on runs made before
    # migration 066: those run with the server's settings.
    settings: RunSettingsOut | None
    # Migration 075, kept by a trigger on `status`: the pauses the run has left, and when it last
    # became running.
    finished_pauses_seconds: float
    running_since: datetime | None
    # Migration 077: "new" (the search memory decides) or "all", and the products it left unsearched.
    refresh: Refresh
    products_remembered: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RunStatus(self.status))
        object.__setattr__(self, "phase", RunPhase(self.phase))
        if isinstance(self.settings, Mapping):
            object.__setattr__(self, "settings", RunSettingsOut.model_validate(self.settings))

    @property
    def paused_seconds(self) -> float:
        """Time spent paused so far, the ongoing pause included."""
        ongoing = 0.0
        if self.status is RunStatus.PAUSED and self.paused_at is not None:
            ongoing = max(0.0, (datetime.now(UTC) - self.paused_at).total_seconds())
        return round(self.finished_pauses_seconds + ongoing, 3)

    @property
    def active_seconds(self) -> float | None:
        """Time the run has been going since it started, pauses left out (None before it starts)."""
        if self.started_at is None:
            return None
        end = self.completed_at or (self.paused_at if self.status is RunStatus.PAUSED else None) or datetime.now(UTC)
        return round(max(0.0, (end - self.started_at).total_seconds() - self.finished_pauses_seconds), 3)


@dataclass(frozen=True, slots=True)
class FinishedRunRow(RunRow):
    duration_seconds: float | None
    categories_count: int


_RUN = columns(RunRow)
_RUN_R = columns(RunRow, "r.")

# The org's seller count and journal position right now: recorded whenever a run stops, so its
# history entry can show "sellers at this point" (see migration 047).
_STOP_SNAPSHOT = """
    seller_count_snapshot = coalesce((SELECT c.n FROM org_seller_counts c WHERE c.org_id = r.org_id), 0),
    journal_seq = coalesce((SELECT c.journal_seq FROM org_seller_counts c WHERE c.org_id = r.org_id), 0)
"""
COUNTERS = (
    "categories_completed",
    "products_total",
    "products_searched",
    "products_remembered",
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
    trigger: RunTrigger = "manual",
    preset_id: UUID | None = None,
    schedule_id: UUID | None = None,
    settings: RunSettingsOut | None = None,
    refresh: Refresh = "new",
) -> RunRow:
    return await insert_one(
        conn,
        RunRow,
        "collection_runs",
        {
            "org_id": org_id,
            "name": name,
            "category_ids": category_ids,
            "created_by": created_by,
            "provider": provider,
            "categories_total": categories_total,
            "trigger": trigger,
            "preset_id": preset_id,
            "schedule_id": schedule_id,
            "settings": Jsonb(settings.model_dump()) if settings is not None else None,
            "refresh": refresh,
        },
    )


async def get_run(conn: Conn, *, org_id: UUID, run_id: UUID, for_update: bool = False) -> RunRow | None:
    return await fetch_org_row(conn, RunRow, "collection_runs", org_id=org_id, row_id=run_id, for_update=for_update)


async def get_run_unscoped(conn: Conn, *, run_id: UUID) -> RunRow | None:
    """For the executor, which acts for whichever org owns the run."""
    return await fetch_one(conn, RunRow, f"SELECT {_RUN} FROM collection_runs WHERE id = %(id)s", {"id": run_id})


async def count_open_runs_locked(conn: Conn, *, org_id: UUID) -> int:
    """Open runs of the org, holding the org row lock so concurrent creates count one at a time."""
    await conn.execute("SELECT 1 FROM orgs WHERE id = %(org_id)s FOR UPDATE", {"org_id": org_id})
    n: int = await fetch_scalar(
        conn,
        "SELECT count(*) FROM collection_runs WHERE org_id = %(org_id)s AND status = ANY(%(open)s)",
        {"org_id": org_id, "open": list(OPEN_STATUSES)},
    )
    return n


async def list_runs(conn: Conn, *, org_id: UUID, limit: int, offset: int) -> tuple[list[RunRow], int]:
    rows = await fetch_all(
        conn,
        RunRow,
        f"""
        SELECT {_RUN} FROM collection_runs WHERE org_id = %(org_id)s
        ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
        """,
        {"org_id": org_id, "limit": limit, "offset": offset},
    )
    total: int = await fetch_scalar(
        conn, "SELECT count(*) FROM collection_runs WHERE org_id = %(org_id)s", {"org_id": org_id}
    )
    return rows, total


async def set_status(conn: Conn, *, run_id: UUID, status: RunStatus, reason: str | None = None) -> RunRow:
    """Move a run to `status`, stamping the matching time column. The caller checked the transition."""
    stopping = status not in (RunStatus.PENDING, RunStatus.RUNNING)
    snapshot = f", {_STOP_SNAPSHOT}" if stopping else ""
    row = await fetch_one(
        conn,
        RunRow,
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
        RETURNING {_RUN_R}
        """,
        {"run_id": run_id, "status": status, "reason": reason},
    )
    assert row is not None
    return row


async def stop_if_running(
    conn: Conn, *, run_id: UUID, owner: str, status: RunStatus, reason: str | None
) -> RunRow | None:
    """Executor-side stop (pause on failures, fail): only while it still holds the running run; the run, or None."""
    return await fetch_one(
        conn,
        RunRow,
        f"""
        UPDATE collection_runs r SET
            status = %(status)s, status_reason = %(reason)s, {_STOP_SNAPSHOT},
            paused_at = CASE WHEN %(status)s = 'paused' THEN now() ELSE NULL END,
            completed_at = CASE WHEN %(status)s = 'failed' THEN now() ELSE completed_at END,
            lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE id = %(run_id)s AND status = 'running' AND lease_owner = %(owner)s
        RETURNING {_RUN_R}
        """,
        {"run_id": run_id, "owner": owner, "status": status, "reason": reason},
    )


async def complete_run(conn: Conn, *, run_id: UUID, owner: str) -> RunRow | None:
    """Mark the run completed with the org's seller count at this moment, in one statement."""
    return await fetch_one(
        conn,
        RunRow,
        f"""
        UPDATE collection_runs r SET
            status = 'completed', phase = 'done', completed_at = now(), status_reason = NULL, {_STOP_SNAPSHOT},
            lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE id = %(run_id)s AND status = 'running' AND lease_owner = %(owner)s
        RETURNING {_RUN_R}
        """,
        {"run_id": run_id, "owner": owner},
    )


async def set_phase(conn: Conn, *, run_id: UUID, phase: RunPhase) -> None:
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


async def claim_lease(
    conn: Conn, *, run_id: UUID, owner: str, ttl_seconds: float, reserve_ids: int = 0
) -> RunRow | None:
    """Take the run's lease if it is running and free, expired, or already ours.

    Also reserves `reserve_ids` activity-event ids: the returned `event_seq_reserved` minus
    `reserve_ids` is the floor the new executor numbers above.
    """
    return await fetch_one(
        conn,
        RunRow,
        f"""
        UPDATE collection_runs SET lease_owner = %(owner)s,
            lease_expires_at = now() + make_interval(secs => %(ttl)s),
            event_seq_reserved = event_seq_reserved + %(reserve)s
        WHERE id = %(run_id)s AND status = 'running'
          AND (lease_owner IS NULL OR lease_owner = %(owner)s OR lease_expires_at < now())
        RETURNING {_RUN}
        """,
        {"run_id": run_id, "owner": owner, "ttl": ttl_seconds, "reserve": reserve_ids},
    )


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
    kept: list[UUID] = await fetch_scalars(
        conn,
        """
        UPDATE collection_runs SET lease_expires_at = now() + make_interval(secs => %(ttl)s)
        WHERE id = ANY(%(ids)s) AND status = 'running' AND lease_owner = %(owner)s
        RETURNING id
        """,
        {"ids": run_ids, "owner": owner, "ttl": ttl_seconds},
    )
    return set(kept)


async def org_name_of_run(conn: Conn, *, run_id: UUID) -> str | None:
    """The name of the org a run belongs to (for the local operator, who may act in any org)."""
    row = await (
        await conn.execute(
            "SELECT o.name FROM collection_runs r JOIN orgs o ON o.id = r.org_id WHERE r.id = %(id)s", {"id": run_id}
        )
    ).fetchone()
    return None if row is None else str(row["name"])


async def lease_owners(conn: Conn) -> list[str]:
    """The executors that hold a running run's lease."""
    rows = await (
        await conn.execute(
            "SELECT DISTINCT lease_owner FROM collection_runs WHERE status = 'running' AND lease_owner IS NOT NULL"
        )
    ).fetchall()
    return [row["lease_owner"] for row in rows]


async def expire_leases(conn: Conn, *, owners: list[str]) -> None:
    """Let the leases of `owners` lapse now (their runs become orphans, for any executor to adopt)."""
    await conn.execute(
        "UPDATE collection_runs SET lease_expires_at = now() - interval '1 second' "
        "WHERE status = 'running' AND lease_owner = ANY(%(owners)s)",
        {"owners": owners},
    )


async def orphaned_running_runs(conn: Conn) -> list[UUID]:
    """Running runs nobody executes: no lease, or a lease its owner stopped renewing."""
    orphans: list[UUID] = await fetch_scalars(
        conn,
        """
        SELECT id FROM collection_runs
        WHERE status = 'running' AND (lease_owner IS NULL OR lease_expires_at < now())
        ORDER BY started_at
        """,
    )
    return orphans


async def list_finished_runs(conn: Conn, *, org_id: UUID, limit: int, offset: int) -> tuple[list[FinishedRunRow], int]:
    finished = list(TERMINAL_STATUSES)
    rows = await fetch_all(
        conn,
        FinishedRunRow,
        f"""
        SELECT {_RUN}, extract(epoch FROM completed_at - started_at)::float8 AS duration_seconds,
               cardinality(category_ids) AS categories_count
        FROM collection_runs
        WHERE org_id = %(org_id)s AND status = ANY(%(finished)s)
        ORDER BY completed_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
        """,
        {"org_id": org_id, "finished": finished, "limit": limit, "offset": offset},
    )
    total: int = await fetch_scalar(
        conn,
        "SELECT count(*) FROM collection_runs WHERE org_id = %(org_id)s AND status = ANY(%(finished)s)",
        {"org_id": org_id, "finished": finished},
    )
    return rows, total


@dataclass(frozen=True, slots=True)
class StatusCount:
    status: RunStatus
    count: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RunStatus(self.status))


async def count_by_status(conn: Conn) -> list[StatusCount]:
    """Runs per status across every org (for metrics)."""
    return await fetch_all(
        conn, StatusCount, "SELECT status, count(*)::int AS count FROM collection_runs GROUP BY status ORDER BY status"
    )


@dataclass(frozen=True)
class ExecutionSync:
    """What the executing process writes each control tick for one of its runs."""

    run_id: UUID
    lanes: list[dict[str, Any]]
    reserve_to: int


@dataclass(frozen=True, slots=True)
class RunControlState:
    id: UUID
    status: RunStatus
    status_reason: str | None
    lease_owner: str | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RunStatus(self.status))


async def sync_executions(conn: Conn, *, owner: str, updates: list[ExecutionSync]) -> list[RunControlState]:
    """Publish our runs' worker lanes and event-id reservations; return their current status and lease.

    One statement per tick for all of a process's runs. Lanes are written only while we hold the
    lease, so a stale process cannot overwrite its successor's.
    """
    if not updates:
        return []
    return await fetch_all(
        conn,
        RunControlState,
        """
        WITH v AS (
            SELECT id, lanes, reserve_to
            FROM unnest(%(ids)s::uuid[], %(lanes)s::jsonb[], %(reserve)s::bigint[]) AS v(id, lanes, reserve_to)
        ), upd AS (
            UPDATE collection_runs r SET
                worker_lanes = v.lanes, worker_lanes_at = now(),
                event_seq_reserved = greatest(r.event_seq_reserved, v.reserve_to)
            FROM v WHERE r.id = v.id AND r.status = 'running' AND r.lease_owner = %(owner)s
        )
        SELECT r.id, r.status, r.status_reason, r.lease_owner FROM collection_runs r JOIN v ON v.id = r.id
        """,
        {
            "ids": [u.run_id for u in updates],
            "lanes": [Jsonb(u.lanes) for u in updates],
            "reserve": [u.reserve_to for u in updates],
            "owner": owner,
        },
    )


CONTROL_CHANNEL = "sellercollection_run_control"


async def notify_control(conn: Conn, *, run_id: UUID) -> None:
    """Wake the executing process (whichever it is) to look at the run's row now. Sent on commit."""
    await conn.execute("SELECT pg_notify(%(channel)s, %(run_id)s)", {"channel": CONTROL_CHANNEL, "run_id": str(run_id)})


async def listen_control(conn: Conn) -> None:
    """On a dedicated connection: receive `notify_control` wake-ups."""
    await conn.execute(f"LISTEN {CONTROL_CHANNEL}")
