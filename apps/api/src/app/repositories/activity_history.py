"""SQL for a finished run's last activity events (migration 060)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from app.db.pool import Conn, fetch_all, fetch_scalar


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    data: str


async def replace(conn: Conn, *, run_id: UUID, events: list[StoredEvent]) -> None:
    """Keep exactly `events` as the run's history (a later stop, e.g. cancel after fail, replaces it)."""
    async with conn.transaction():
        await conn.execute("DELETE FROM collection_run_events WHERE run_id = %(run_id)s", {"run_id": run_id})
        if events:
            await conn.execute(
                """
                INSERT INTO collection_run_events (run_id, seq, data)
                SELECT %(run_id)s, seq, data FROM unnest(%(seqs)s::bigint[], %(datas)s::text[]) AS e(seq, data)
                """,
                {"run_id": run_id, "seqs": [e.seq for e in events], "datas": [e.data for e in events]},
            )


async def after(conn: Conn, *, run_id: UUID, after_seq: int | None) -> list[StoredEvent]:
    return await fetch_all(
        conn,
        StoredEvent,
        "SELECT seq, data FROM collection_run_events WHERE run_id = %(run_id)s AND seq > %(after)s ORDER BY seq",
        {"run_id": run_id, "after": after_seq or 0},
    )


async def last_seq(conn: Conn, *, run_id: UUID) -> int | None:
    last: int | None = await fetch_scalar(
        conn, "SELECT max(seq) FROM collection_run_events WHERE run_id = %(run_id)s", {"run_id": run_id}
    )
    return last
