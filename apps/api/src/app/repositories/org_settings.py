"""SQL for per-org collection settings (a NULL column means: the server's default)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from psycopg.rows import class_row

from app.db.pool import Conn


@dataclass(frozen=True)
class OrgSettingsRow:
    org_id: UUID
    max_open_runs: int | None
    provider: str | None
    ebay_pages_per_product: int | None
    price_min_multiplier: Decimal | None
    price_max_multiplier: Decimal | None
    workers: int | None
    updated_by: UUID | None
    updated_at: datetime


@dataclass(frozen=True)
class OrgSettingsValues:
    """The org's own choices; None keeps the server's default."""

    max_open_runs: int | None = None
    provider: str | None = None
    ebay_pages_per_product: int | None = None
    price_min_multiplier: Decimal | None = None
    price_max_multiplier: Decimal | None = None
    workers: int | None = None


async def get(conn: Conn, *, org_id: UUID, for_update: bool = False) -> OrgSettingsRow | None:
    lock = " FOR UPDATE" if for_update else ""
    cur = conn.cursor(row_factory=class_row(OrgSettingsRow))
    await cur.execute(f"SELECT * FROM collection_settings WHERE org_id = %(org_id)s{lock}", {"org_id": org_id})
    return await cur.fetchone()


async def upsert(conn: Conn, *, org_id: UUID, values: OrgSettingsValues, updated_by: UUID | None) -> OrgSettingsRow:
    cur = conn.cursor(row_factory=class_row(OrgSettingsRow))
    await cur.execute(
        """
        INSERT INTO collection_settings AS s (org_id, max_open_runs, provider, ebay_pages_per_product,
            price_min_multiplier, price_max_multiplier, workers, updated_by)
        VALUES (%(org_id)s, %(max_open_runs)s, %(provider)s, %(ebay_pages_per_product)s,
            %(price_min_multiplier)s, %(price_max_multiplier)s, %(workers)s, %(updated_by)s)
        ON CONFLICT (org_id) DO UPDATE SET
            max_open_runs = EXCLUDED.max_open_runs, provider = EXCLUDED.provider,
            ebay_pages_per_product = EXCLUDED.ebay_pages_per_product,
            price_min_multiplier = EXCLUDED.price_min_multiplier,
            price_max_multiplier = EXCLUDED.price_max_multiplier,
            workers = EXCLUDED.workers, updated_by = EXCLUDED.updated_by, updated_at = now()
        RETURNING *
        """,
        {
            "org_id": org_id,
            "max_open_runs": values.max_open_runs,
            "provider": values.provider,
            "ebay_pages_per_product": values.ebay_pages_per_product,
            "price_min_multiplier": values.price_min_multiplier,
            "price_max_multiplier": values.price_max_multiplier,
            "workers": values.workers,
            "updated_by": updated_by,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def find_org_id(conn: Conn, *, name: str) -> UUID | None:
    """The org called `name` (for the command line, which names orgs rather than holding a token)."""
    row = await (await conn.execute("SELECT id FROM orgs WHERE name = %(name)s", {"name": name})).fetchone()
    return None if row is None else UUID(str(row["id"]))
