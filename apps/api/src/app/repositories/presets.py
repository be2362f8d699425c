"""SQL for category presets: an org's own presets and the built-ins every org sees (org_id NULL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from app.db.pool import Conn, columns, fetch_all, fetch_one
from app.models import Refresh
from app.repositories.query import insert_one

_VISIBLE = "(org_id = %(org_id)s OR org_id IS NULL)"


@dataclass(frozen=True)
class PresetRow:
    id: UUID
    org_id: UUID | None
    builtin_key: str | None
    name: str
    category_ids: list[str]
    refresh: Refresh
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_builtin(self) -> bool:
        return self.org_id is None


_PRESET = columns(PresetRow)


async def list_presets(conn: Conn, *, org_id: UUID) -> list[PresetRow]:
    """Built-ins first (All categories, then departments by name), then the org's own by name."""
    return await fetch_all(
        conn,
        PresetRow,
        f"""
        SELECT {_PRESET} FROM amazon_category_presets WHERE {_VISIBLE}
        ORDER BY org_id IS NOT NULL, builtin_key IS DISTINCT FROM 'all', lower(name), id
        """,
        {"org_id": org_id},
    )


async def get_preset(conn: Conn, *, org_id: UUID, preset_id: UUID, for_update: bool = False) -> PresetRow | None:
    """A preset the org may use (its own or a built-in); None for another org's or an unknown id."""
    lock = " FOR UPDATE" if for_update else ""
    return await fetch_one(
        conn,
        PresetRow,
        f"SELECT {_PRESET} FROM amazon_category_presets WHERE id = %(id)s AND {_VISIBLE}{lock}",
        {"id": preset_id, "org_id": org_id},
    )


async def find_by_name(conn: Conn, *, org_id: UUID, name: str) -> PresetRow | None:
    """The org's or a built-in preset named `name` (case-insensitive); the org's own wins."""
    return await fetch_one(
        conn,
        PresetRow,
        f"""
        SELECT {_PRESET} FROM amazon_category_presets WHERE {_VISIBLE} AND lower(name) = lower(%(name)s)
        ORDER BY org_id IS NULL LIMIT 1
        """,
        {"org_id": org_id, "name": name},
    )


async def name_taken(conn: Conn, *, org_id: UUID, name: str, except_id: UUID | None = None) -> bool:
    row = await (
        await conn.execute(
            f"""
            SELECT 1 FROM amazon_category_presets
            WHERE {_VISIBLE} AND lower(name) = lower(%(name)s) AND id IS DISTINCT FROM %(except_id)s
            """,
            {"org_id": org_id, "name": name, "except_id": except_id},
        )
    ).fetchone()
    return row is not None


async def insert_preset(
    conn: Conn, *, org_id: UUID, name: str, category_ids: list[str], created_by: UUID | None, refresh: Refresh = "new"
) -> PresetRow:
    """Raises psycopg's UniqueViolation when the org already has the name."""
    return await insert_one(
        conn,
        PresetRow,
        "amazon_category_presets",
        {"org_id": org_id, "name": name, "category_ids": category_ids, "created_by": created_by, "refresh": refresh},
    )


async def update_preset(
    conn: Conn, *, org_id: UUID, preset_id: UUID, name: str, category_ids: list[str], refresh: Refresh
) -> PresetRow:
    """Update one of the org's own presets (never a built-in: those have no org)."""
    row = await fetch_one(
        conn,
        PresetRow,
        f"""
        UPDATE amazon_category_presets
        SET name = %(name)s, category_ids = %(category_ids)s, refresh = %(refresh)s, updated_at = now()
        WHERE id = %(id)s AND org_id = %(org_id)s
        RETURNING {_PRESET}
        """,
        {"id": preset_id, "org_id": org_id, "name": name, "category_ids": category_ids, "refresh": refresh},
    )
    assert row is not None
    return row


async def delete_preset(conn: Conn, *, org_id: UUID, preset_id: UUID) -> bool:
    cur = await conn.execute(
        "DELETE FROM amazon_category_presets WHERE id = %(id)s AND org_id = %(org_id)s",
        {"id": preset_id, "org_id": org_id},
    )
    return cur.rowcount == 1


async def schedules_using(conn: Conn, *, org_id: UUID, preset_id: UUID) -> list[str]:
    """Names of the org's schedules that collect this preset."""
    rows = await (
        await conn.execute(
            "SELECT name FROM collection_schedules WHERE org_id = %(org_id)s AND preset_id = %(id)s ORDER BY name",
            {"org_id": org_id, "id": preset_id},
        )
    ).fetchall()
    return [row["name"] for row in rows]
