"""SQL of the evidence: a product's sellers and listings stored in one round trip, a seller's listings, retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from app.db.pool import Conn, fetch_all, fetch_scalar
from app.repositories.sellers import SellerUpsert
from app.scrapers.links import EBAY_HOSTS, amazon_product_url, ebay_item_url, marketplace_url


@dataclass(frozen=True)
class ProductSearched:
    """The Amazon product whose eBay search found the listings, and the price window searched."""

    asin: str
    title: str
    price: Decimal
    currency: str | None
    category_id: str | None
    rank: int | None
    window_low: Decimal
    window_high: Decimal


@dataclass(frozen=True)
class ListingEvidence:
    """One listing read with a seller: what an evidence row keeps of it."""

    seller_key: str  # the seller's normalized name
    item_id: int
    title: str
    price: Decimal | None
    currency: str | None
    location: str | None
    url: str | None  # only a safe URL other than the canonical one of the item id
    title_match: float
    in_window: bool | None


_STORE_PRODUCT = """
    SELECT seller_key, is_new_seller
    FROM store_product_sellers_v2(%(item)s, %(run_id)s, %(org_id)s, %(result)s, %(sellers)s, %(product)s, %(listings)s)
"""


async def store_product_evidence(
    conn: Conn,
    *,
    item_id: int,
    org_id: UUID,
    run_id: UUID,
    result: dict[str, Any],
    sellers: list[SellerUpsert],
    product: ProductSearched,
    listings: list[ListingEvidence],
) -> tuple[list[str], list[str]]:
    """Finish a product item: sellers, the product, its evidence and the run's counters, in one round trip.

    Returns (new, known) normalized names; both empty if the item was already finished. See
    migration 070 (and 048 for why this is a server-side function).
    """
    ordered = sorted({s.normalized_name: s for s in sellers}.values(), key=lambda s: s.normalized_name)
    # One row per (seller, item): an upsert may not touch the same row twice in one statement.
    rows = sorted({(x.seller_key, x.item_id): x for x in listings}.values(), key=lambda x: (x.seller_key, x.item_id))
    params = _store_params(item_id, org_id, run_id, result, ordered, product, rows)
    cur = await conn.execute(_STORE_PRODUCT, params)
    found = await cur.fetchall()
    return [r["seller_key"] for r in found if r["is_new_seller"]], [
        r["seller_key"] for r in found if not r["is_new_seller"]
    ]


def _store_params(
    item_id: int,
    org_id: UUID,
    run_id: UUID,
    result: dict[str, Any],
    ordered: list[SellerUpsert],
    product: ProductSearched,
    rows: list[ListingEvidence],
) -> dict[str, Any]:
    """The statement's parameters: the sellers, the product and the listings as JSON (migration 070 says why)."""
    return {
        "item": item_id,
        "run_id": run_id,
        "org_id": org_id,
        "result": Jsonb(result),
        "sellers": Jsonb(
            [
                {
                    "display_name": s.display_name,
                    "normalized_name": s.normalized_name,
                    "platform_id": s.platform_id,
                    "feedback_score": s.feedback_score,
                    "feedback_percent": _text(s.feedback_percent),
                }
                for s in ordered
            ]
        ),
        "product": Jsonb(
            {
                "asin": product.asin,
                "title": product.title,
                "price": str(product.price),
                "currency": product.currency,
                "category_id": product.category_id,
                "rank": product.rank,
                "window_low": str(product.window_low),
                "window_high": str(product.window_high),
            }
        ),
        "listings": Jsonb(
            [
                {
                    "seller_key": x.seller_key,
                    "item": x.item_id,
                    "title": x.title,
                    "price": _text(x.price),
                    "currency": x.currency,
                    "location": x.location,
                    "url": x.url,
                    "match": x.title_match,
                    "in_window": x.in_window,
                }
                for x in rows
            ]
        ),
    }


def _text(value: Decimal | None) -> str | None:
    """A number as JSON text (exact: PostgreSQL reads it back as numeric)."""
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class ListingRow:
    """One evidence listing as the API shows it (links are checked again by the response model)."""

    item_id: int
    ebay_title: str
    ebay_price: Decimal | None
    currency: str | None
    location: str | None
    url: str | None
    amazon_asin: str
    amazon_title: str
    amazon_price: Decimal | None
    markup: Decimal | None
    title_match: Decimal | None
    in_window: bool | None
    category_id: str | None
    best_seller_rank: int | None
    run_id: UUID
    first_seen_at: datetime
    last_seen_at: datetime

    @property
    def ebay_item_id(self) -> str:
        return str(self.item_id)

    @property
    def ebay_url(self) -> str | None:
        return marketplace_url(self.url, EBAY_HOSTS) or ebay_item_url(self.item_id)

    @property
    def amazon_url(self) -> str | None:
        return amazon_product_url(self.amazon_asin)


# The markup is computed, not stored: it is always the two prices shown beside it, divided.
MARKUP_SQL = (
    "CASE WHEN coalesce(e.currency, 'USD') = 'USD' AND e.amazon_price > 0 "
    "THEN round(e.ebay_price / e.amazon_price, 3) END"
)
_LISTING_SELECT = f"""
    SELECT e.ebay_item_id AS item_id, e.ebay_title, e.ebay_price, e.currency, e.location, e.url,
           p.asin AS amazon_asin, p.title AS amazon_title, e.amazon_price, {MARKUP_SQL} AS markup,
           e.title_match, e.in_window, p.category_id, p.best_seller_rank, e.run_id, e.first_seen_at, e.last_seen_at
    FROM seller_evidence e JOIN amazon_products p ON p.id = e.product_id
"""


async def seller_listings(conn: Conn, *, seller_id: UUID, limit: int, before_item: int | None) -> list[ListingRow]:
    """A page of one seller's listings, newest listing first (eBay item ids grow with time), after a cursor."""
    after = "" if before_item is None else "AND e.ebay_item_id < %(before)s"
    return await fetch_all(
        conn,
        ListingRow,
        f"{_LISTING_SELECT} WHERE e.seller_id = %(seller_id)s {after} ORDER BY e.ebay_item_id DESC LIMIT %(limit)s",
        {"seller_id": seller_id, "before": before_item, "limit": limit},
    )


async def delete_expired(conn: Conn, *, older_than: datetime, batch: int) -> int:
    """Delete up to `batch` evidence rows last seen before `older_than` and queue their sellers' profiles.

    Returns the rows deleted. Several servers may sweep at once: rows another one holds are skipped.
    """
    deleted = await fetch_scalar(
        conn,
        """
        WITH gone AS (
            DELETE FROM seller_evidence e
            WHERE (e.seller_id, e.ebay_item_id) IN (
                SELECT seller_id, ebay_item_id FROM seller_evidence
                WHERE last_seen_at < %(cutoff)s
                LIMIT %(batch)s FOR UPDATE SKIP LOCKED
            )
            RETURNING e.seller_id
        ), queued AS (
            INSERT INTO seller_profile_queue (org_id, seller_id)
            SELECT s.org_id, s.id FROM sellers s WHERE s.id IN (SELECT seller_id FROM gone)
        )
        SELECT count(*) FROM gone
        """,
        {"cutoff": older_than, "batch": batch},
    )
    return int(deleted or 0)


async def delete_forgotten(conn: Conn, *, older_than: datetime) -> int:
    """Products not searched since `older_than` (the org's memory of them); returns how many.

    Call it after `delete_expired`: a product's last search is never older than its evidence's last
    sighting (a listing is read only when its product is searched), so none of it is left.
    """
    cur = await conn.execute(
        """
        WITH products AS (
            DELETE FROM amazon_products p WHERE p.last_searched_at < %(cutoff)s RETURNING 1
        )
        SELECT count(*) AS n FROM products
        """,
        {"cutoff": older_than},
    )
    row = await cur.fetchone()
    return int(row["n"]) if row else 0
