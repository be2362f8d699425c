"""SQL for collection runs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from app.db import Conn

TERMINAL_STATUSES = ("completed", "failed", "cancelled")
OPEN_STATUSES = ("pending", "running", "paused")


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


async def get_run(conn: Conn, *, org_id: UUID, run_id: UUID) -> dict[str, Any] | None:
    return await (
        await conn.execute(
            "SELECT * FROM collection_runs WHERE id = %(run_id)s AND org_id = %(org_id)s",
            {"run_id": run_id, "org_id": org_id},
        )
    ).fetchone()
