"""SQL for collection schedules and their fire records, including the claim of a due schedule."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from uuid import UUID

from app.db.pool import Conn, columns, fetch_all, fetch_one
from app.models import FireOutcome, Refresh
from app.repositories.query import insert_one


@dataclass(frozen=True)
class ScheduleValues:
    """What a schedule is made of: its owner's choices, and the next fire time they lead to."""

    name: str
    preset_id: UUID | None
    category_ids: list[str] | None
    cron_expression: str
    timezone: str
    enabled: bool
    next_run_at: datetime | None
    refresh: Refresh | None  # None: the preset's choice, else "new"


@dataclass(frozen=True)
class ScheduleRow(ScheduleValues):
    id: UUID
    org_id: UUID
    last_run_at: datetime | None
    last_run_id: UUID | None
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime
    preset_name: str | None  # the preset's, when it collects one


@dataclass(frozen=True)
class FireRow:
    id: UUID
    schedule_id: UUID
    org_id: UUID
    fire_time: datetime
    fire_count: int
    recorded_at: datetime
    outcome: FireOutcome
    reason: str | None
    run_id: UUID | None
    claimed_by: str


_SELECT = f"""
    SELECT {columns(ScheduleRow, "s.").replace("s.preset_name", "p.name AS preset_name")}
    FROM collection_schedules s LEFT JOIN amazon_category_presets p ON p.id = s.preset_id
"""
_FIRE = columns(FireRow)


async def insert_schedule(conn: Conn, *, org_id: UUID, values: ScheduleValues, created_by: UUID | None) -> UUID:
    """Raises psycopg's UniqueViolation when the org already has a schedule of that name."""
    row = await (
        await conn.execute(
            """
            INSERT INTO collection_schedules (org_id, name, preset_id, category_ids, cron_expression, timezone,
                enabled, next_run_at, refresh, created_by)
            VALUES (%(org_id)s, %(name)s, %(preset_id)s, %(category_ids)s, %(cron_expression)s, %(timezone)s,
                %(enabled)s, %(next_run_at)s, %(refresh)s, %(created_by)s)
            RETURNING id
            """,
            {"org_id": org_id, "created_by": created_by, **asdict(values)},
        )
    ).fetchone()
    assert row is not None
    schedule_id: UUID = row["id"]
    return schedule_id


async def update_schedule(conn: Conn, *, org_id: UUID, schedule_id: UUID, values: ScheduleValues) -> bool:
    cur = await conn.execute(
        """
        UPDATE collection_schedules SET name = %(name)s, preset_id = %(preset_id)s, category_ids = %(category_ids)s,
            cron_expression = %(cron_expression)s, timezone = %(timezone)s, enabled = %(enabled)s,
            next_run_at = %(next_run_at)s, refresh = %(refresh)s, updated_at = now()
        WHERE id = %(id)s AND org_id = %(org_id)s
        """,
        {"id": schedule_id, "org_id": org_id, **asdict(values)},
    )
    return cur.rowcount == 1


async def get_schedule(conn: Conn, *, org_id: UUID, schedule_id: UUID, for_update: bool = False) -> ScheduleRow | None:
    if for_update:
        await conn.execute(
            "SELECT 1 FROM collection_schedules WHERE id = %(id)s AND org_id = %(org_id)s FOR UPDATE",
            {"id": schedule_id, "org_id": org_id},
        )
    return await fetch_one(
        conn,
        ScheduleRow,
        f"{_SELECT} WHERE s.id = %(id)s AND s.org_id = %(org_id)s",
        {"id": schedule_id, "org_id": org_id},
    )


async def list_schedules(conn: Conn, *, org_id: UUID) -> list[ScheduleRow]:
    return await fetch_all(
        conn, ScheduleRow, f"{_SELECT} WHERE s.org_id = %(org_id)s ORDER BY lower(s.name), s.id", {"org_id": org_id}
    )


async def delete_schedule(conn: Conn, *, org_id: UUID, schedule_id: UUID) -> bool:
    cur = await conn.execute(
        "DELETE FROM collection_schedules WHERE id = %(id)s AND org_id = %(org_id)s",
        {"id": schedule_id, "org_id": org_id},
    )
    return cur.rowcount == 1


async def due_schedules(conn: Conn, *, now: datetime, limit: int) -> list[ScheduleRow]:
    """Enabled schedules of every org whose next fire time has come, earliest first."""
    return await fetch_all(
        conn,
        ScheduleRow,
        f"{_SELECT} WHERE s.enabled AND s.next_run_at <= %(now)s ORDER BY s.next_run_at LIMIT %(limit)s",
        {"now": now, "limit": limit},
    )


async def claim(conn: Conn, *, schedule_id: UUID, expected_next: datetime, new_next: datetime) -> bool:
    """Advance `next_run_at` only if it still holds the value we read: exactly one process wins a fire."""
    cur = await conn.execute(
        """
        UPDATE collection_schedules SET next_run_at = %(new_next)s
        WHERE id = %(id)s AND enabled AND next_run_at = %(expected)s
        """,
        {"id": schedule_id, "expected": expected_next, "new_next": new_next},
    )
    return cur.rowcount == 1


async def set_last_run(conn: Conn, *, schedule_id: UUID, run_at: datetime, run_id: UUID) -> None:
    await conn.execute(
        "UPDATE collection_schedules SET last_run_at = %(at)s, last_run_id = %(run_id)s WHERE id = %(id)s",
        {"id": schedule_id, "at": run_at, "run_id": run_id},
    )


async def insert_fire(
    conn: Conn,
    *,
    schedule_id: UUID,
    org_id: UUID,
    fire_time: datetime,
    outcome: str,
    claimed_by: str,
    recorded_at: datetime,
    reason: str | None = None,
    run_id: UUID | None = None,
    fire_count: int = 1,
) -> FireRow:
    return await insert_one(
        conn,
        FireRow,
        "schedule_fires",
        {
            "schedule_id": schedule_id,
            "org_id": org_id,
            "fire_time": fire_time,
            "fire_count": fire_count,
            "recorded_at": recorded_at,
            "outcome": outcome,
            "reason": reason,
            "run_id": run_id,
            "claimed_by": claimed_by,
        },
    )


async def list_fires(conn: Conn, *, org_id: UUID, schedule_id: UUID, limit: int) -> list[FireRow]:
    return await fetch_all(
        conn,
        FireRow,
        f"""
        SELECT {_FIRE} FROM schedule_fires WHERE org_id = %(org_id)s AND schedule_id = %(id)s
        ORDER BY fire_time DESC, id DESC LIMIT %(limit)s
        """,
        {"org_id": org_id, "id": schedule_id, "limit": limit},
    )


async def member_may_collect(conn: Conn, *, org_id: UUID, user_id: UUID, permission: str) -> bool:
    """Whether the user is still a member of the org with `permission` (a schedule runs as its creator)."""
    row = await (
        await conn.execute(
            """
            SELECT 1 FROM memberships
            WHERE org_id = %(org_id)s AND user_id = %(user_id)s AND %(permission)s = ANY(permission_keys)
            """,
            {"org_id": org_id, "user_id": user_id, "permission": permission},
        )
    ).fetchone()
    return row is not None
