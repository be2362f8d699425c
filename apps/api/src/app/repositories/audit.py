"""SQL for the seller audit log and the seller journal (history and "sellers at this point")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from app.db.pool import Conn, columns, fetch_all, fetch_one, fetch_scalar
from app.models import JournalOp, RunTrigger, TimelineKind
from app.repositories.query import Where, fetch_org_row


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: UUID
    org_id: UUID
    action: str
    seller_id: UUID | None
    seller_name: str
    old_value: dict[str, Any] | None
    new_value: dict[str, Any] | None
    source: str
    source_run_id: UUID | None
    user_id: UUID | None
    affected_count: int
    seller_count_snapshot: int | None
    journal_seq: int | None
    xact_id: str  # xid8, as text: only ever handed back to PostgreSQL
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TimelineRow:
    kind: TimelineKind
    id: UUID
    at: datetime
    action: str
    summary: str
    affected_count: int
    seller_count_snapshot: int | None
    journal_seq: int | None
    user_id: UUID | None
    trigger: RunTrigger | None


@dataclass(frozen=True, slots=True)
class JournalRow:
    id: int
    op: JournalOp
    display_name: str
    old_display_name: str | None


@dataclass(frozen=True, slots=True)
class SellerAtRow:
    seller_id: UUID
    display_name: str


# xact_id is xid8, which psycopg has no type for; text is all it is needed as.
_AUDIT = columns(AuditRow).replace("xact_id", "xact_id::text AS xact_id")


async def insert_audit(
    conn: Conn,
    *,
    org_id: UUID,
    action: str,
    seller_name: str,
    user_id: UUID | None,
    affected_count: int = 1,
    seller_id: UUID | None = None,
    old_value: dict[str, Any] | None = None,
    new_value: dict[str, Any] | None = None,
    source: str = "manual",
    source_run_id: UUID | None = None,
) -> AuditRow:
    """One audit row carrying the org's seller count and journal position after this transaction's change."""
    row = await fetch_one(
        conn,
        AuditRow,
        f"""
        INSERT INTO seller_audit_log (org_id, action, seller_id, seller_name, old_value, new_value, source,
                                      source_run_id, user_id, affected_count, seller_count_snapshot, journal_seq)
        SELECT %(org_id)s, %(action)s, %(seller_id)s, %(seller_name)s, %(old)s, %(new)s, %(source)s,
               %(source_run_id)s, %(user_id)s, %(affected)s, coalesce(c.n, 0), coalesce(c.journal_seq, 0)
        FROM (SELECT 1) AS one LEFT JOIN org_seller_counts c ON c.org_id = %(org_id)s
        RETURNING {_AUDIT}
        """,
        {
            "org_id": org_id,
            "action": action,
            "seller_id": seller_id,
            "seller_name": seller_name,
            "old": Jsonb(old_value) if old_value is not None else None,
            "new": Jsonb(new_value) if new_value is not None else None,
            "source": source,
            "source_run_id": source_run_id,
            "user_id": user_id,
            "affected": affected_count,
        },
    )
    assert row is not None
    return row


async def list_audit(
    conn: Conn,
    *,
    org_id: UUID,
    limit: int,
    actions: list[str] | None = None,
    source: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    after: tuple[datetime, UUID] | None = None,
) -> list[AuditRow]:
    where = Where("org_id = %(org_id)s", org_id=org_id, limit=limit)
    where.add_if(bool(actions), "action = ANY(%(actions)s)", actions=actions)
    where.add_if(bool(source), "source = %(source)s", source=source)
    where.add_if(date_from is not None, "created_at >= %(date_from)s", date_from=date_from)
    where.add_if(date_to is not None, "created_at < %(date_to)s", date_to=date_to)
    if after is not None:
        where.add("(created_at, id) < (%(after_at)s, %(after_id)s)", after_at=after[0], after_id=after[1])
    return await fetch_all(
        conn,
        AuditRow,
        f"SELECT {_AUDIT} FROM seller_audit_log WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
        where.params,
    )


async def get_audit(conn: Conn, *, org_id: UUID, entry_id: UUID) -> AuditRow | None:
    return await fetch_org_row(conn, AuditRow, "seller_audit_log", org_id=org_id, row_id=entry_id, select=_AUDIT)


async def timeline(conn: Conn, *, org_id: UUID, limit: int, offset: int) -> list[TimelineRow]:
    """Runs that have stopped at least once and manual changes, newest first, each with its snapshot."""
    return await fetch_all(
        conn,
        TimelineRow,
        f"""
        SELECT {columns(TimelineRow)} FROM (
            SELECT 'run' AS kind, r.id, coalesce(r.completed_at, r.paused_at, r.updated_at) AS at,
                   r.status AS action, r.name AS summary, r.sellers_new AS affected_count,
                   r.seller_count_snapshot, r.journal_seq, r.created_by AS user_id, r.trigger
            FROM collection_runs r
            WHERE r.org_id = %(org_id)s AND r.journal_seq IS NOT NULL
            UNION ALL
            SELECT 'audit', a.id, a.created_at, a.action, a.seller_name, a.affected_count,
                   a.seller_count_snapshot, a.journal_seq, a.user_id, NULL
            FROM seller_audit_log a
            WHERE a.org_id = %(org_id)s
            UNION ALL
            -- Scheduled fires that started nothing (a started one shows as its run).
            SELECT 'schedule', f.id, f.fire_time, f.outcome, s.name || ': ' || coalesce(f.reason, f.outcome),
                   f.fire_count, NULL, NULL, NULL, 'schedule'
            FROM schedule_fires f JOIN collection_schedules s ON s.id = f.schedule_id
            WHERE f.org_id = %(org_id)s AND f.outcome <> 'started'
        ) AS entries
        ORDER BY at DESC, id DESC
        LIMIT %(limit)s OFFSET %(offset)s
        """,
        {"org_id": org_id, "limit": limit, "offset": offset},
    )


_LATEST = """
    SELECT seller_id, display_name FROM (
        SELECT DISTINCT ON (seller_id) seller_id, op, display_name
        FROM seller_journal
        WHERE org_id = %(org_id)s AND id <= %(seq)s
        ORDER BY seller_id, id DESC
    ) AS latest
    WHERE op <> 'remove'
"""


async def count_sellers_at(conn: Conn, *, org_id: UUID, journal_seq: int) -> int:
    """How many sellers the org had right after journal position `journal_seq`."""
    n: int = await fetch_scalar(conn, f"SELECT count(*) FROM ({_LATEST}) AS s", {"org_id": org_id, "seq": journal_seq})
    return n


async def sellers_at(
    conn: Conn, *, org_id: UUID, journal_seq: int, limit: int, after: tuple[str, UUID] | None
) -> list[SellerAtRow]:
    """A page of the org's sellers right after journal position `journal_seq`, by name (keyset after `after`)."""
    keyset = ""
    params: dict[str, Any] = {"org_id": org_id, "seq": journal_seq, "limit": limit}
    if after is not None:
        keyset = """
            AND (lower(display_name), display_name, seller_id) > (lower(%(after)s::text), %(after)s::text, %(after_id)s)
        """
        params |= {"after": after[0], "after_id": after[1]}
    return await fetch_all(
        conn,
        SellerAtRow,
        f"{_LATEST} {keyset} ORDER BY lower(display_name), display_name, seller_id LIMIT %(limit)s",
        params,
    )


def _journal_filter(xact_id: str | None, run_id: UUID | None, up_to: int | None) -> tuple[str, dict[str, Any]]:
    """The journal rows of one history entry: one audited transaction, or one run up to its journal_seq."""
    if run_id is not None:
        return "run_id = %(run_id)s AND id <= %(seq)s", {"run_id": run_id, "seq": up_to}
    return "xact_id = %(xact)s::xid8", {"xact": xact_id}


async def journal_counts(
    conn: Conn, *, org_id: UUID, xact_id: str | None = None, run_id: UUID | None = None, up_to: int | None = None
) -> tuple[int, int]:
    """(added, removed) by one history entry; a rename counts as one of each."""
    where, params = _journal_filter(xact_id, run_id, up_to)
    cur = await conn.execute(
        "SELECT count(*) FILTER (WHERE op <> 'remove') AS added, count(*) FILTER (WHERE op <> 'add') AS removed "
        f"FROM seller_journal WHERE org_id = %(org_id)s AND {where}",
        {"org_id": org_id, **params},
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["added"]), int(row["removed"])


async def journal_page(
    conn: Conn,
    *,
    org_id: UUID,
    limit: int,
    after: int | None = None,
    xact_id: str | None = None,
    run_id: UUID | None = None,
    up_to: int | None = None,
) -> list[JournalRow]:
    """Journal rows of one history entry in order, a page at a time (keyset on the journal id)."""
    where, params = _journal_filter(xact_id, run_id, up_to)
    return await fetch_all(
        conn,
        JournalRow,
        f"SELECT {columns(JournalRow)} FROM seller_journal "
        f"WHERE org_id = %(org_id)s AND {where} AND id > %(after)s ORDER BY id LIMIT %(limit)s",
        {"org_id": org_id, "after": after or 0, "limit": limit, **params},
    )
