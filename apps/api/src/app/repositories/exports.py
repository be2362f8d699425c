"""SQL of the seller export: a consistent snapshot read with COPY, the fastest way out of PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from psycopg import sql

from app.db.pool import Conn
from app.repositories.evidence import MARKUP_SQL
from app.repositories.query import Where
from app.scrapers.links import url_pattern

EXPORT_COLUMNS = (
    "display_name",
    "platform",
    "platform_id",
    "feedback_score",
    "feedback_percent",
    "times_seen",
    "flagged",
    "first_seen_run_id",
    "created_at",
    "score",
    "products_matched",
    "median_markup",
)

# Spreadsheets run cells that start with = + - @ TAB CR as formulas (CSV injection); a leading ' defuses them.
# Compared by first code point (ascii() of a text is its first character's), the cheapest test per row.
_NEUTRALISED = "CASE WHEN ascii({c}) IN (61, 43, 45, 64, 9, 13) THEN '''' || {c} ELSE {c} END"
# The values the JSON export holds: ISO 8601 timestamps (UTC, see snapshot()), true/false. `platform` is
# always 'ebay' (a CHECK constraint), so it needs no neutralising.
_CSV_VALUES = {
    "display_name": _NEUTRALISED.format(c="display_name"),
    "platform_id": _NEUTRALISED.format(c="platform_id"),
    "flagged": "flagged::text",
    "created_at": "replace(created_at::text, ' ', 'T')",
}


def _where(org_id: UUID, run_id: UUID | None, flagged: bool | None) -> tuple[str, dict[str, Any]]:
    """A filter in `sql.SQL.format` placeholders: COPY takes no bind parameters, so values are bound client-side."""
    where = Where("org_id = {org_id}", org_id=org_id)
    where.add_if(run_id is not None, "first_seen_run_id = {run_id}", run_id=run_id)
    where.add_if(flagged is not None, "flagged = {flagged}", flagged=flagged)
    return str(where), where.params


def _bind(statement: str, params: dict[str, Any]) -> sql.Composed:
    return sql.SQL(statement).format(**{k: sql.Literal(v) for k, v in params.items()})


CSV_HEADER = ",".join(f'"{c}"' for c in EXPORT_COLUMNS).encode() + b"\n"


class Snapshot:
    """Reads of one REPEATABLE READ transaction, so the count and the rows describe the same list."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def count(self, *, org_id: UUID, run_id: UUID | None, flagged: bool | None) -> int:
        where, params = _where(org_id, run_id, flagged)
        cur = await self._conn.execute(_bind(f"SELECT count(*) AS n FROM sellers WHERE {where}", params))
        row = await cur.fetchone()
        assert row is not None
        return int(row["n"])

    async def _copy(self, select: str, where: str, params: dict[str, Any], options: str) -> AsyncIterator[bytes]:
        statement = _bind(
            f"COPY ({select} FROM sellers WHERE {where} ORDER BY created_at, id) TO STDOUT {options}", params
        )
        async with self._conn.cursor().copy(statement) as copy:
            async for data in copy:
                yield bytes(data)

    def copy_csv(self, *, org_id: UUID, run_id: UUID | None, flagged: bool | None) -> AsyncIterator[bytes]:
        where, params = _where(org_id, run_id, flagged)
        columns = ", ".join(f"{_CSV_VALUES.get(c, c)} AS {c}" for c in EXPORT_COLUMNS)
        return self._copy(f"SELECT {columns}", where, params, "(FORMAT csv, FORCE_QUOTE *)")

    def copy_json_rows(self, *, org_id: UUID, run_id: UUID | None, flagged: bool | None) -> AsyncIterator[bytes]:
        """One JSON object per row, in COPY's text format (backslashes doubled)."""
        where, params = _where(org_id, run_id, flagged)
        pairs = ", ".join(
            f"'{c}', {c}::text" if c in ("feedback_percent", "first_seen_run_id", "median_markup") else f"'{c}', {c}"
            for c in EXPORT_COLUMNS
        )
        return self._copy(f"SELECT json_build_object({pairs})", where, params, "")

    def copy_names(self, *, org_id: UUID, run_id: UUID | None, flagged: bool | None) -> AsyncIterator[bytes]:
        """One display name per row, in COPY's text format (backslashes doubled)."""
        where, params = _where(org_id, run_id, flagged)
        return self._copy("SELECT display_name", where, params, "")

    async def count_evidence(self, *, org_id: UUID, seller_id: UUID | None) -> int:
        where, params = _evidence_where(org_id, seller_id)
        statement = f"SELECT count(*) AS n FROM seller_evidence e JOIN sellers s ON s.id = e.seller_id WHERE {where}"
        cur = await self._conn.execute(_bind(statement, params))
        row = await cur.fetchone()
        assert row is not None
        return int(row["n"])

    async def copy_evidence_csv(self, *, org_id: UUID, seller_id: UUID | None) -> AsyncIterator[bytes]:
        """The listings of one seller (or of all), by seller name then newest listing, as quoted CSV."""
        where, params = _evidence_where(org_id, seller_id)
        columns = ", ".join(f"{value} AS {name}" for name, value in _EVIDENCE_VALUES.items())
        statement = _bind(
            f"COPY (SELECT {columns} FROM seller_evidence e JOIN sellers s ON s.id = e.seller_id "
            f"JOIN amazon_products p ON p.id = e.product_id WHERE {where} "
            f'ORDER BY s.normalized_name COLLATE "C", s.id, e.ebay_item_id DESC) TO STDOUT (FORMAT csv, FORCE_QUOTE *)',
            params | {"safe_url": url_pattern()},
        )
        async with self._conn.cursor().copy(statement) as copy:
            async for data in copy:
                yield bytes(data)


def _evidence_where(org_id: UUID, seller_id: UUID | None) -> tuple[str, dict[str, Any]]:
    where = Where("s.org_id = {org_id}", org_id=org_id)
    where.add_if(seller_id is not None, "s.id = {seller_id}", seller_id=seller_id)
    return str(where), where.params


# The evidence export's columns. Upstream text is neutralised like names; a stored URL leaves only if it is
# still an https link to a marketplace's own site (the same check as app.scrapers.links), else the
# item's canonical address; the Amazon link only for a well-formed ASIN.
_EVIDENCE_VALUES = {
    "seller": _NEUTRALISED.format(c="s.display_name"),
    "ebay_item_id": "e.ebay_item_id",
    "ebay_title": _NEUTRALISED.format(c="e.ebay_title"),
    "ebay_price": "e.ebay_price",
    "currency": _NEUTRALISED.format(c="e.currency"),
    "location": _NEUTRALISED.format(c="e.location"),
    "ebay_url": "CASE WHEN e.url ~ {safe_url} THEN e.url ELSE 'https://www.ebay.com/itm/' || e.ebay_item_id END",
    "amazon_asin": _NEUTRALISED.format(c="p.asin"),
    "amazon_title": _NEUTRALISED.format(c="p.title"),
    "amazon_price": "e.amazon_price",
    "amazon_url": "CASE WHEN p.asin ~ '^[0-9A-Z]{{10}}$' THEN 'https://www.amazon.com/dp/' || p.asin END",
    "markup": MARKUP_SQL,
    "title_match": "e.title_match",
    "in_window": "e.in_window::text",
    "category_id": _NEUTRALISED.format(c="p.category_id"),
    "best_seller_rank": "p.best_seller_rank",
    "run_id": "e.run_id",
    "first_seen_at": "replace(e.first_seen_at::text, ' ', 'T')",
    "last_seen_at": "replace(e.last_seen_at::text, ' ', 'T')",
}
EVIDENCE_CSV_HEADER = ",".join(f'"{c}"' for c in _EVIDENCE_VALUES).encode() + b"\n"


@asynccontextmanager
async def snapshot(conn: Conn) -> AsyncIterator[Snapshot]:
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        await conn.execute("SET LOCAL TimeZone = 'UTC'")
        await conn.execute("SET LOCAL DateStyle = 'ISO'")
        yield Snapshot(conn)
