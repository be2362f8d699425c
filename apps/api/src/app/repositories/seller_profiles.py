"""SQL of seller profiles: the evidence of the sellers whose profile lags, aggregated; profiles written back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from app.db.pool import Conn, columns, fetch_all, fetch_one, fetch_scalars
from app.models import ScoreSignal
from app.repositories.sellers import SellerRow
from app.scrapers.links import ebay_profile_url


@dataclass(frozen=True, slots=True)
class ProfileFigures:
    """A stale seller's evidence, aggregated in one statement (see `stale_figures`)."""

    seller_id: UUID
    org_id: UUID
    queue_ids: list[int]  # the queue rows this read answers (deleted once the profile is written)
    gone: bool  # the seller was deleted since it was queued
    feedback_score: int | None
    listings_seen: int
    products_matched: int
    category_ids: list[str]
    median_title_match: float | None
    markup_quartiles: list[float] | None  # 25th, 50th and 75th percentile; None without a priced listing
    priced_listings: int
    markup_in_window: float | None
    run_ids: list[UUID]  # every run that found it: the profile's, and those of the queue rows
    first_seen_at: datetime | None
    last_seen_at: datetime | None

    @property
    def runs_seen(self) -> int:
        return len(self.run_ids)


@dataclass(frozen=True, slots=True)
class ScoreReason:
    """One signal's share of a score: what was measured, the points it gave, and a sentence saying so."""

    signal: ScoreSignal
    value: float | None
    points: int
    text: str


@dataclass(frozen=True)
class ProfileWrite:
    figures: ProfileFigures
    score: int | None
    reasons: list[ScoreReason]
    median_markup: Decimal | None
    markup_spread: Decimal | None


async def queued_orgs(conn: Conn) -> list[UUID]:
    """The orgs with sellers waiting for a new profile."""
    return [UUID(str(o)) for o in await fetch_scalars(conn, "SELECT DISTINCT org_id FROM seller_profile_queue")]


@asynccontextmanager
async def refreshing(conn: Conn, org_id: UUID) -> AsyncIterator[None]:
    """Hold the org's profile-refresh lock (a session advisory lock) for the block; released whatever happens."""
    key = {"key": f"seller_profiles:{org_id}"}
    await conn.execute("SELECT pg_advisory_lock(hashtextextended(%(key)s, 0))", key)
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtextextended(%(key)s, 0))", key)


async def stale_figures(conn: Conn, *, org_id: UUID, limit: int) -> list[ProfileFigures]:
    """Up to `limit` queued sellers of the org with their figures, read in one snapshot."""
    org_filter = "WHERE org_id = %(org_id)s"
    return await fetch_all(
        conn,
        ProfileFigures,
        f"""
        WITH queued AS (
            SELECT org_id, seller_id, array_agg(id) AS queue_ids,
                   coalesce(array_agg(DISTINCT run_id) FILTER (WHERE run_id IS NOT NULL), '{{}}') AS new_runs
            FROM seller_profile_queue {org_filter}
            GROUP BY org_id, seller_id LIMIT %(limit)s
        ), stale AS (
            SELECT q.seller_id AS id, q.org_id, q.queue_ids, s.id IS NULL AS gone, s.feedback_score,
                   ARRAY(SELECT DISTINCT r FROM unnest(coalesce(p.run_ids, '{{}}') || q.new_runs) AS r) AS run_ids
            FROM queued q LEFT JOIN sellers s ON s.id = q.seller_id
            LEFT JOIN seller_profiles p ON p.seller_id = q.seller_id
        ), ev AS (
            SELECT e.seller_id, e.product_id, p.category_id, e.title_match, e.in_window,
                   e.first_seen_at, e.last_seen_at,
                   CASE WHEN coalesce(e.currency, 'USD') = 'USD' AND e.amazon_price > 0
                        THEN e.ebay_price / e.amazon_price END AS markup
            FROM stale s JOIN seller_evidence e ON e.seller_id = s.id JOIN amazon_products p ON p.id = e.product_id
        )
        SELECT s.id AS seller_id, s.org_id, s.queue_ids, s.gone, s.feedback_score, s.run_ids,
               count(ev.seller_id)::int AS listings_seen,
               count(DISTINCT ev.product_id)::int AS products_matched,
               coalesce(array_agg(DISTINCT ev.category_id) FILTER (WHERE ev.category_id IS NOT NULL), '{{}}')
                   AS category_ids,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY ev.title_match) AS median_title_match,
               percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY ev.markup) AS markup_quartiles,
               count(ev.markup)::int AS priced_listings,
               avg(ev.in_window::int) FILTER (WHERE ev.markup IS NOT NULL)::float8 AS markup_in_window,
               min(ev.first_seen_at) AS first_seen_at, max(ev.last_seen_at) AS last_seen_at
        FROM stale s LEFT JOIN ev ON ev.seller_id = s.id
        GROUP BY s.id, s.org_id, s.queue_ids, s.gone, s.feedback_score, s.run_ids
        """,
        {"org_id": org_id, "limit": limit},
    )


# Both statements take the batch as one JSON document (`rows`, `queued`), unpacked by jsonb_to_recordset:
# adapting a dozen arrays of JSON values in Python cost the event loop more than the statements cost.
_ROWS = """
    jsonb_to_recordset(%(rows)s) AS d(
        id uuid, score smallint, products integer, markup numeric, listings integer, categories text[],
        title numeric, in_window numeric, spread numeric, runs uuid[], first_seen timestamptz,
        last_seen timestamptz, reasons jsonb)
"""

# The figures the list shows, onto the seller rows that changed. A row a store step holds is skipped,
# not waited for; the store steps lock sellers in name order and this never waits, so no deadlock.
# Answers every seller whose row now holds its figures (unchanged, or updated here).
_WRITE_SCORES = f"""
    WITH d AS (
        SELECT id, score, products, markup FROM {_ROWS}
    ), changed AS (
        SELECT s.id FROM sellers s JOIN d ON d.id = s.id
        WHERE (s.score, s.products_matched, s.median_markup) IS DISTINCT FROM (d.score, d.products, d.markup)
        FOR NO KEY UPDATE OF s SKIP LOCKED
    ), updated AS (
        UPDATE sellers s SET score = d.score, products_matched = d.products, median_markup = d.markup
        FROM d JOIN changed c ON c.id = d.id WHERE s.id = d.id
        RETURNING s.id
    )
    SELECT id FROM updated
    UNION ALL
    SELECT s.id FROM sellers s JOIN d ON d.id = s.id
    WHERE (s.score, s.products_matched, s.median_markup) IS NOT DISTINCT FROM (d.score, d.products, d.markup)
"""

# The profiles of those sellers, and the deletion of exactly the queue rows their figures answer.
_WRITE_PROFILES = f"""
    WITH answered AS (
        SELECT unnest(%(written)s::uuid[]) AS id UNION SELECT unnest(%(gone)s::uuid[])
    ), d AS (
        SELECT d.id, listings, categories, title, in_window, spread, runs, first_seen, last_seen, reasons
        FROM {_ROWS} JOIN unnest(%(written)s::uuid[]) AS w(id) ON w.id = d.id
    ), dequeued AS (
        DELETE FROM seller_profile_queue q
        USING jsonb_to_recordset(%(queued)s) AS x(id bigint, org uuid, seller uuid)
        JOIN answered a ON a.id = x.seller
        WHERE q.org_id = x.org AND q.seller_id = x.seller AND q.id = x.id
    ), dropped AS (
        DELETE FROM seller_profiles p USING d WHERE p.seller_id = d.id AND d.listings = 0
    )
    INSERT INTO seller_profiles AS p (seller_id, listings_seen, category_ids, median_title_match,
                                      markup_in_window, markup_spread, run_ids, first_seen_at, last_seen_at,
                                      score_reasons, computed_at)
    SELECT d.id, d.listings, d.categories, d.title, d.in_window, d.spread, d.runs, d.first_seen, d.last_seen,
           d.reasons, now()
    FROM d JOIN sellers s ON s.id = d.id
    WHERE d.listings > 0
    ORDER BY d.id
    ON CONFLICT (seller_id) DO UPDATE SET
        listings_seen = EXCLUDED.listings_seen, category_ids = EXCLUDED.category_ids,
        median_title_match = EXCLUDED.median_title_match, markup_in_window = EXCLUDED.markup_in_window,
        markup_spread = EXCLUDED.markup_spread, run_ids = EXCLUDED.run_ids,
        first_seen_at = EXCLUDED.first_seen_at, last_seen_at = EXCLUDED.last_seen_at,
        score_reasons = EXCLUDED.score_reasons, computed_at = EXCLUDED.computed_at
"""


async def write_profiles(conn: Conn, profiles: list[ProfileWrite]) -> int:
    """Scores onto the seller rows, then the profiles, in two short statements; returns the sellers written.

    Only the queue rows the figures answer are deleted: a store step committed since left its own,
    so that seller is recomputed again. A seller whose row a store step held keeps its queue rows
    too, for the next pass. A seller without evidence left gets no score and no profile.
    """
    if not profiles:
        return 0
    params = _profile_params(profiles)
    written = await fetch_scalars(conn, _WRITE_SCORES, params)
    await conn.execute(_WRITE_PROFILES, params | {"written": written})
    return len(written)


def _profile_params(profiles: list[ProfileWrite]) -> dict[str, Any]:
    rows = []
    for p in profiles:
        x = p.figures
        rows.append({
            "id": str(x.seller_id),
            "score": p.score,
            "products": x.products_matched if x.listings_seen else None,
            "markup": _text(p.median_markup),
            "listings": x.listings_seen,
            "categories": sorted(x.category_ids),
            "title": _text(_three(x.median_title_match)),
            "in_window": _text(_three(x.markup_in_window)),
            "spread": _text(p.markup_spread),
            "runs": sorted(str(r) for r in x.run_ids),
            "first_seen": x.first_seen_at and x.first_seen_at.isoformat(),
            "last_seen": x.last_seen_at and x.last_seen_at.isoformat(),
            "reasons": [_reason_json(r) for r in p.reasons],
        })  # fmt: skip
    queued = [
        {"id": qid, "org": str(p.figures.org_id), "seller": str(p.figures.seller_id)}
        for p in profiles
        for qid in p.figures.queue_ids
    ]
    gone = [p.figures.seller_id for p in profiles if p.figures.gone]
    return {"rows": Jsonb(rows), "queued": Jsonb(queued), "gone": gone}


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _three(value: float | None) -> Decimal | None:
    return None if value is None else round(Decimal(str(value)), 3)


def _reason_json(reason: ScoreReason) -> dict[str, Any]:
    return {"signal": reason.signal, "value": reason.value, "points": reason.points, "text": reason.text}


@dataclass(frozen=True, slots=True)
class SellerDetailRow(SellerRow):
    """A seller with its profile (every profile field None for a seller without evidence)."""

    listings_seen: int | None
    category_ids: list[str] | None
    median_title_match: Decimal | None
    markup_in_window: Decimal | None
    markup_spread: Decimal | None
    runs_seen: int | None
    evidence_first_seen_at: datetime | None
    evidence_last_seen_at: datetime | None
    reasons: list[dict[str, Any]] | None
    profile_computed_at: datetime | None
    profile_stale: bool

    @property
    def score_reasons(self) -> list[ScoreReason]:
        return [ScoreReason(**reason) for reason in self.reasons or []]

    @property
    def profile_url(self) -> str | None:
        return ebay_profile_url(self.platform_id or self.display_name)


async def seller_detail(conn: Conn, *, org_id: UUID, seller_id: UUID) -> SellerDetailRow | None:
    return await fetch_one(
        conn,
        SellerDetailRow,
        f"""
        SELECT {columns(SellerRow, "s.")}, p.listings_seen, p.category_ids, p.median_title_match,
               p.markup_in_window, p.markup_spread, cardinality(p.run_ids) AS runs_seen,
               p.first_seen_at AS evidence_first_seen_at,
               p.last_seen_at AS evidence_last_seen_at, p.score_reasons AS reasons,
               p.computed_at AS profile_computed_at,
               EXISTS (SELECT 1 FROM seller_profile_queue q WHERE q.org_id = s.org_id AND q.seller_id = s.id)
                   AS profile_stale
        FROM sellers s LEFT JOIN seller_profiles p ON p.seller_id = s.id
        WHERE s.id = %(id)s AND s.org_id = %(org_id)s
        """,
        {"id": seller_id, "org_id": org_id},
    )
