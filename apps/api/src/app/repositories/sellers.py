"""SQL for sellers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from app.db import Conn


@dataclass(frozen=True)
class SellerUpsert:
    display_name: str
    normalized_name: str
    platform_id: str | None
    feedback_score: int | None
    feedback_percent: Decimal | None


async def upsert_found_sellers(
    conn: Conn, *, org_id: UUID, run_id: UUID, sellers: list[SellerUpsert]
) -> tuple[list[str], list[str]]:
    """Insert new sellers and update known ones in one statement; return (new, known) normalized names.

    `xmax = 0` marks rows this statement inserted. PostgreSQL resolves concurrent upserts of the
    same key to exactly one insert, so two workers or runs finding a seller at once count it new once.
    Rows are sorted by key so concurrent batches lock in the same order and cannot deadlock.
    """
    if not sellers:
        return [], []
    ordered = sorted({s.normalized_name: s for s in sellers}.values(), key=lambda s: s.normalized_name)
    cur = await conn.execute(
        """
        INSERT INTO sellers AS s (org_id, display_name, normalized_name, platform, platform_id,
                                  feedback_score, feedback_percent, first_seen_run_id, last_seen_run_id)
        SELECT %(org_id)s, u.display_name, u.normalized_name, 'ebay', u.platform_id,
               u.feedback_score, u.feedback_percent, %(run_id)s, %(run_id)s
        FROM unnest(%(display)s::text[], %(norm)s::text[], %(pid)s::text[], %(score)s::int[], %(pct)s::numeric[])
             AS u(display_name, normalized_name, platform_id, feedback_score, feedback_percent)
        ORDER BY u.normalized_name
        ON CONFLICT (org_id, platform, normalized_name) DO UPDATE SET
            times_seen = s.times_seen + 1,
            last_seen_run_id = EXCLUDED.last_seen_run_id,
            feedback_score = COALESCE(EXCLUDED.feedback_score, s.feedback_score),
            feedback_percent = COALESCE(EXCLUDED.feedback_percent, s.feedback_percent),
            platform_id = COALESCE(s.platform_id, EXCLUDED.platform_id),
            updated_at = now()
        RETURNING s.normalized_name, (s.xmax = 0) AS inserted
        """,
        {
            "org_id": org_id,
            "run_id": run_id,
            "display": [s.display_name for s in ordered],
            "norm": [s.normalized_name for s in ordered],
            "pid": [s.platform_id for s in ordered],
            "score": [s.feedback_score for s in ordered],
            "pct": [s.feedback_percent for s in ordered],
        },
    )
    rows = await cur.fetchall()
    new = [r["normalized_name"] for r in rows if r["inserted"]]
    known = [r["normalized_name"] for r in rows if not r["inserted"]]
    return new, known


async def count_sellers(conn: Conn, *, org_id: UUID) -> int:
    row = await (
        await conn.execute("SELECT count(*) AS n FROM sellers WHERE org_id = %(org_id)s", {"org_id": org_id})
    ).fetchone()
    assert row is not None
    n: int = row["n"]
    return n
