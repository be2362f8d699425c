"""A run's upstream requests, cost, skipped pages and seller-line coverage (columns of `collection_runs`)."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from psycopg.types.json import Jsonb

from app.db.pool import Conn


async def add_usage(
    conn: Conn,
    *,
    run_id: UUID,
    requests: dict[str, dict[str, int]],
    cost: Decimal,
    pages_skipped: int,
    listings_read: int = 0,
    listings_with_seller: int = 0,
) -> None:
    """Add request counts (by provider and kind), cost, skipped pages and listings read to the run, in one statement."""
    await conn.execute(
        """
        UPDATE collection_runs SET
            upstream_requests = (
                SELECT coalesce(jsonb_object_agg(provider, kinds), '{}'::jsonb) FROM (
                    SELECT provider, jsonb_object_agg(kind, n) AS kinds FROM (
                        SELECT provider, kind, sum(n)::bigint AS n FROM (
                            SELECT p.key AS provider, k.key AS kind, k.value::bigint AS n
                            FROM jsonb_each(upstream_requests) AS p, jsonb_each_text(p.value) AS k
                            UNION ALL
                            SELECT p.key, k.key, k.value::bigint
                            FROM jsonb_each(%(requests)s::jsonb) AS p, jsonb_each_text(p.value) AS k
                        ) AS together GROUP BY provider, kind
                    ) AS summed GROUP BY provider
                ) AS providers
            ),
            upstream_cost = upstream_cost + %(cost)s,
            ebay_pages_skipped = ebay_pages_skipped + %(skipped)s,
            listings_read = listings_read + %(listings_read)s,
            listings_with_seller = listings_with_seller + %(listings_with_seller)s,
            updated_at = now()
        WHERE id = %(run_id)s
        """,
        {
            "run_id": run_id,
            "requests": Jsonb(requests),
            "cost": cost,
            "skipped": pages_skipped,
            "listings_read": listings_read,
            "listings_with_seller": listings_with_seller,
        },
    )
