"""SQL for sellers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from app.db.pool import Conn, columns, fetch_all, fetch_one, fetch_scalar
from app.repositories.query import Where, fetch_org_row


@dataclass(frozen=True, slots=True)
class SellerRow:
    id: UUID
    org_id: UUID
    display_name: str
    normalized_name: str
    platform: str
    platform_id: str | None
    feedback_score: int | None
    feedback_percent: Decimal | None
    times_seen: int
    flagged: bool
    first_seen_run_id: UUID | None
    last_seen_run_id: UUID | None
    created_at: datetime
    updated_at: datetime
    score: int | None
    products_matched: int | None
    median_markup: Decimal | None


@dataclass(frozen=True, slots=True)
class SellerRef:
    """A seller a bulk change touched."""

    id: UUID
    display_name: str


_SELLER = columns(SellerRow)


@dataclass(frozen=True)
class SellerUpsert:
    display_name: str
    normalized_name: str
    platform_id: str | None
    feedback_score: int | None
    feedback_percent: Decimal | None


async def snapshot(conn: Conn, *, org_id: UUID) -> tuple[int, int]:
    """(seller count, journal position) of the org as this transaction sees them."""
    cur = await conn.execute(
        "SELECT n, journal_seq FROM org_seller_counts WHERE org_id = %(org_id)s", {"org_id": org_id}
    )
    row = await cur.fetchone()
    return (int(row["n"]), int(row["journal_seq"])) if row else (0, 0)


@dataclass(frozen=True)
class SellerSort:
    """One order of the seller list, and the keyset condition that continues it after a cursor."""

    order_by: str
    after: str
    cursor_column: str  # the SellerRow field the cursor carries (besides the id)

    def cursor_value(self, row: SellerRow) -> Any:
        value = getattr(row, self.cursor_column)
        # Sellers without a score sort after every scored one, as -1 (the index's expression); a cursor holds text.
        return str(-1 if value is None else value) if self.cursor_column == "score" else value


SORTS = {
    "newest": SellerSort(
        "created_at DESC, id DESC", "(created_at, id) < (%(after_value)s, %(after_id)s)", "created_at"
    ),
    "oldest": SellerSort("created_at ASC, id ASC", "(created_at, id) > (%(after_value)s, %(after_id)s)", "created_at"),
    "name": SellerSort(
        'normalized_name COLLATE "C" ASC, id ASC',
        '(normalized_name COLLATE "C", id) > (%(after_value)s COLLATE "C", %(after_id)s)',
        "normalized_name",
    ),
    "score": SellerSort(
        "coalesce(score, -1) DESC, id DESC", "(coalesce(score, -1), id) < (%(after_value)s, %(after_id)s)", "score"
    ),
}


async def list_sellers(
    conn: Conn,
    *,
    org_id: UUID,
    sort: SellerSort,
    limit: int,
    prefix: str | None = None,
    flagged: bool | None = None,
    min_score: int | None = None,
    after: tuple[Any, UUID] | None = None,
) -> list[SellerRow]:
    where = _matching(org_id, prefix, flagged, min_score)
    where.params["limit"] = limit
    if after is not None:
        where.add(sort.after, after_value=after[0], after_id=after[1])
    return await fetch_all(
        conn,
        SellerRow,
        f"SELECT {_SELLER} FROM sellers WHERE {where} ORDER BY {sort.order_by} LIMIT %(limit)s",
        where.params,
    )


async def count_matching(
    conn: Conn, *, org_id: UUID, prefix: str | None, flagged: bool | None, min_score: int | None = None
) -> int:
    """Sellers of the org that `list_sellers` would page through with these filters."""
    where = _matching(org_id, prefix, flagged, min_score)
    n: int = await fetch_scalar(conn, f"SELECT count(*) FROM sellers WHERE {where}", where.params)
    return n


def _matching(org_id: UUID, prefix: str | None, flagged: bool | None, min_score: int | None = None) -> Where:
    where = Where("org_id = %(org_id)s", org_id=org_id)
    if prefix:
        # A prefix is a range in byte order; the upper bound keeps the index scan short.
        where.add(
            'normalized_name COLLATE "C" >= %(prefix)s AND normalized_name COLLATE "C" < %(prefix_end)s',
            prefix=prefix,
            prefix_end=prefix + "\U0010ffff",
        )
    where.add_if(flagged is not None, "flagged = %(flagged)s", flagged=flagged)
    where.add_if(min_score is not None, "coalesce(score, -1) >= %(min_score)s", min_score=min_score)
    return where


async def get_seller(conn: Conn, *, org_id: UUID, seller_id: UUID) -> SellerRow | None:
    return await fetch_org_row(conn, SellerRow, "sellers", org_id=org_id, row_id=seller_id)


async def best_new_of_run(conn: Conn, *, org_id: UUID, run_id: UUID, limit: int) -> list[SellerRow]:
    """The run's new sellers (first seen in it) with the highest scores; unscored ones are left out."""
    return await fetch_all(
        conn,
        SellerRow,
        f"""
        SELECT {_SELLER} FROM sellers
        WHERE org_id = %(org_id)s AND first_seen_run_id = %(run_id)s AND score IS NOT NULL
        ORDER BY score DESC, products_matched DESC NULLS LAST, normalized_name COLLATE "C", id
        LIMIT %(limit)s
        """,
        {"org_id": org_id, "run_id": run_id, "limit": limit},
    )


async def insert_manual(conn: Conn, *, org_id: UUID, names: list[tuple[str, str]]) -> list[SellerRow]:
    """Insert (display, normalized) names not yet in the list; returns the rows inserted."""
    if not names:
        return []
    ordered = sorted(names, key=lambda n: n[1])
    return await fetch_all(
        conn,
        SellerRow,
        f"""
        INSERT INTO sellers (org_id, display_name, normalized_name, platform)
        SELECT %(org_id)s, u.display_name, u.normalized_name, 'ebay'
        FROM unnest(%(display)s::text[], %(norm)s::text[]) AS u(display_name, normalized_name)
        ON CONFLICT (org_id, platform, normalized_name) DO NOTHING
        RETURNING {_SELLER}
        """,
        {"org_id": org_id, "display": [n[0] for n in ordered], "norm": [n[1] for n in ordered]},
    )


async def rename(
    conn: Conn, *, org_id: UUID, seller_id: UUID, display_name: str, normalized_name: str
) -> SellerRow | None:
    return await fetch_one(
        conn,
        SellerRow,
        f"""
        UPDATE sellers SET display_name = %(display)s, normalized_name = %(norm)s, updated_at = now()
        WHERE org_id = %(org_id)s AND id = %(id)s
        RETURNING {_SELLER}
        """,
        {"org_id": org_id, "id": seller_id, "display": display_name, "norm": normalized_name},
    )


async def delete_many(conn: Conn, *, org_id: UUID, seller_ids: list[UUID]) -> list[SellerRef]:
    return await fetch_all(
        conn,
        SellerRef,
        "DELETE FROM sellers WHERE org_id = %(org_id)s AND id = ANY(%(ids)s) RETURNING id, display_name",
        {"org_id": org_id, "ids": seller_ids},
    )


async def set_flagged(conn: Conn, *, org_id: UUID, seller_ids: list[UUID], flagged: bool) -> list[SellerRef]:
    return await fetch_all(
        conn,
        SellerRef,
        """
        WITH changed AS (
            UPDATE sellers SET flagged = %(flagged)s, updated_at = now()
            WHERE org_id = %(org_id)s AND id = ANY(%(ids)s)
            RETURNING id, display_name, normalized_name
        )
        SELECT id, display_name FROM changed ORDER BY normalized_name COLLATE "C", id
        """,
        {"org_id": org_id, "ids": seller_ids, "flagged": flagged},
    )
