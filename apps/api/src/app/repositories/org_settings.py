"""SQL for an org's own collection settings (a NULL column means: the server's default)."""

from __future__ import annotations

from uuid import UUID

from app.db.pool import Conn, fetch_one
from app.models import CollectionSettingsUpdate

_CHOICES = ", ".join(CollectionSettingsUpdate.model_fields)


async def get(conn: Conn, *, org_id: UUID, for_update: bool = False) -> CollectionSettingsUpdate:
    """The org's choices; all None (the server's defaults) when it has made none."""
    lock = " FOR UPDATE" if for_update else ""
    row = await fetch_one(
        conn,
        CollectionSettingsUpdate,
        f"SELECT {_CHOICES} FROM collection_settings WHERE org_id = %(org_id)s{lock}",
        {"org_id": org_id},
    )
    return row or CollectionSettingsUpdate()


async def upsert(conn: Conn, *, org_id: UUID, choices: CollectionSettingsUpdate, updated_by: UUID | None) -> None:
    await conn.execute(
        """
        INSERT INTO collection_settings AS s (org_id, max_open_runs, provider, ebay_pages_per_product,
            price_min_multiplier, price_max_multiplier, workers, refresh_after_days, updated_by)
        VALUES (%(org_id)s, %(max_open_runs)s, %(provider)s, %(ebay_pages_per_product)s,
            %(price_min_multiplier)s, %(price_max_multiplier)s, %(workers)s, %(refresh_after_days)s, %(updated_by)s)
        ON CONFLICT (org_id) DO UPDATE SET
            max_open_runs = EXCLUDED.max_open_runs, provider = EXCLUDED.provider,
            ebay_pages_per_product = EXCLUDED.ebay_pages_per_product,
            price_min_multiplier = EXCLUDED.price_min_multiplier,
            price_max_multiplier = EXCLUDED.price_max_multiplier,
            workers = EXCLUDED.workers, refresh_after_days = EXCLUDED.refresh_after_days,
            updated_by = EXCLUDED.updated_by, updated_at = now()
        """,
        {"org_id": org_id, "updated_by": updated_by, **choices.model_dump()},
    )


async def org_names(conn: Conn, *, limit: int) -> list[str]:
    """The orgs' names in order (at most `limit`), for the command line to choose from or list."""
    rows = await (
        await conn.execute("SELECT name FROM orgs ORDER BY name LIMIT %(limit)s", {"limit": limit})
    ).fetchall()
    return [str(row["name"]) for row in rows]


async def find_org_id(conn: Conn, *, name: str) -> UUID | None:
    """The org called `name` (for the command line, which names orgs rather than holding a token)."""
    row = await (await conn.execute("SELECT id FROM orgs WHERE name = %(name)s", {"name": name})).fetchone()
    return None if row is None else UUID(str(row["id"]))
