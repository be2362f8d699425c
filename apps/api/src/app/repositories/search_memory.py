"""SQL of the org's search memory (amazon_products): which listed products a run searches, and what an estimate reads.

See migration 077: a run claims the products it will search in one statement per best-seller
list, committed before any search; a product claimed by another open run is not searched twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from uuid import UUID

from psycopg.types.json import Jsonb

from app.db.pool import Conn, fetch_all, fetch_scalar


@dataclass(frozen=True, slots=True)
class ListedProduct:
    """A product as a best-seller list shows it, with the eBay price window a search would use (None: no price)."""

    asin: str
    title: str | None
    price: Decimal | None
    currency: str | None
    category_id: str | None
    rank: int | None
    window_low: Decimal | None
    window_high: Decimal | None


# Another open run claimed the product, recently enough that its claim still holds.
_HELD_ELSEWHERE = """
    a.claimed_run_id IS NOT NULL AND a.claimed_run_id <> %(run_id)s AND a.claimed_at >= {cutoff}
    AND EXISTS (SELECT 1 FROM collection_runs r
                WHERE r.id = a.claimed_run_id AND r.status IN ('pending', 'running', 'paused'))
"""
# The window searched last and the one a search now would use do not overlap.
_WINDOW_MOVED = """
    coalesce({new_low} > a.search_price_high OR {new_high} < a.search_price_low, false)
"""
_DUE = f"""
    (a.last_searched_at < {{cutoff}} OR {_WINDOW_MOVED}) AND NOT ({_HELD_ELSEWHERE})
"""

_CLAIM = """
    WITH listed AS (
        SELECT DISTINCT ON (l.asin) l.asin, l.title, l.price, l.currency, l.category_id, l.rank,
               l.window_low, l.window_high
        FROM jsonb_to_recordset(%(products)s)
             AS l(asin text, title text, price numeric, currency text, category_id text, rank integer,
                  window_low numeric, window_high numeric)
        ORDER BY l.asin
    )
    INSERT INTO amazon_products AS a (org_id, asin, title, price, currency, category_id, best_seller_rank,
                                      last_searched_at, search_price_low, search_price_high,
                                      claimed_run_id, claimed_at, listed_at, listed_category_id)
    SELECT %(org_id)s, l.asin, coalesce(l.title, ''), l.price, l.currency, l.category_id, l.rank,
           '-infinity', l.window_low, l.window_high, %(run_id)s, now(), now(), l.category_id
    FROM listed l
    ORDER BY l.asin
    ON CONFLICT (org_id, asin) DO UPDATE SET
        title = coalesce(nullif(EXCLUDED.title, ''), a.title), price = EXCLUDED.price,
        currency = EXCLUDED.currency, category_id = coalesce(EXCLUDED.category_id, a.category_id),
        best_seller_rank = EXCLUDED.best_seller_rank, listed_at = now(),
        listed_category_id = EXCLUDED.listed_category_id,
        claimed_run_id = CASE WHEN %(everything)s OR a.claimed_run_id = %(run_id)s OR ({due})
                              THEN %(run_id)s ELSE a.claimed_run_id END,
        claimed_at = CASE WHEN %(everything)s OR a.claimed_run_id = %(run_id)s OR ({due})
                          THEN now() ELSE a.claimed_at END
    RETURNING a.asin, a.claimed_run_id = %(run_id)s AS searching
""".format(
    due=_DUE.format(
        cutoff="now() - make_interval(days => %(days)s)",
        new_low="EXCLUDED.search_price_low",
        new_high="EXCLUDED.search_price_high",
    )
)


async def claim_listed(
    conn: Conn, *, org_id: UUID, run_id: UUID, products: list[ListedProduct], refresh_after_days: int, everything: bool
) -> set[str]:
    """Remember a list's products and claim those this run is to search; returns their ASINs.

    Claimed: new to the org, last searched over `refresh_after_days` ago, or priced off the last
    window, unless another open run holds it; with `everything`, all. The statement waits for a
    concurrent claim of the same product to commit, then sees it: a product is claimed once.
    """
    if not products:
        return set()
    cur = await conn.execute(
        _CLAIM,
        {
            "org_id": org_id,
            "run_id": run_id,
            "products": Jsonb([{**asdict(p), "price": _text(p.price), **_window(p)} for p in products]),
            "days": refresh_after_days,
            "everything": everything,
        },
    )
    return {row["asin"] for row in await cur.fetchall() if row["searching"]}


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _window(p: ListedProduct) -> dict[str, str | None]:
    return {"window_low": _text(p.window_low), "window_high": _text(p.window_high)}


@dataclass(frozen=True, slots=True)
class KnownProduct:
    """A product of the org's latest fetch of a category's list, and whether a "new" run would search it."""

    category_id: str
    asin: str
    priced: bool
    due: bool


_KNOWN = """
    WITH latest AS (
        SELECT listed_category_id, max(listed_at) AS listed_at FROM amazon_products
        WHERE org_id = %(org_id)s AND listed_category_id = ANY(%(categories)s)
        GROUP BY listed_category_id
    )
    SELECT a.listed_category_id AS category_id, a.asin, coalesce(a.price > 0, false) AS priced, ({due}) AS due
    FROM latest l JOIN amazon_products a
      ON a.org_id = %(org_id)s AND a.listed_category_id = l.listed_category_id AND a.listed_at = l.listed_at
    ORDER BY a.listed_category_id, a.asin
""".format(
    due=_DUE.format(
        cutoff="now() - make_interval(days => %(days)s)",
        new_low="a.price * %(low)s",
        new_high="a.price * %(high)s",
    ).replace("%(run_id)s", "'00000000-0000-0000-0000-000000000000'::uuid")
)


async def known_products(
    conn: Conn, *, org_id: UUID, category_ids: list[str], refresh_after_days: int, low: float, high: float
) -> list[KnownProduct]:
    """The products of the org's latest fetch of each of these lists (categories never fetched are absent)."""
    return await fetch_all(
        conn,
        KnownProduct,
        _KNOWN,
        {
            "org_id": org_id,
            "categories": category_ids,
            "days": refresh_after_days,
            "low": Decimal(str(low)),
            "high": Decimal(str(high)),
        },
    )


async def ebay_pages_per_search(conn: Conn, *, org_id: UUID, provider: str) -> float | None:
    """eBay result pages per product searched (with a price), over the org's last completed runs on `provider`."""
    value = await fetch_scalar(
        conn,
        """
        WITH recent AS (
            SELECT id, upstream_requests FROM collection_runs
            WHERE org_id = %(org_id)s AND provider = %(provider)s AND status = 'completed' AND products_searched > 0
            ORDER BY completed_at DESC LIMIT 5
        )
        SELECT (SELECT sum(coalesce((u.value ->> 'ebay_page')::int, 0))
                FROM recent r, jsonb_each(r.upstream_requests) u)::float8
               / nullif((SELECT count(*) FROM collection_items i
                         WHERE i.run_id IN (SELECT id FROM recent) AND i.kind = 'product'
                           AND i.status = 'completed'), 0)
        """,
        {"org_id": org_id, "provider": provider},
    )
    return None if value is None else float(value)
