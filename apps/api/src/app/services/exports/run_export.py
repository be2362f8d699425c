"""Finished runs as CSV: what each run asked of its upstreams, what it cost, what it found, and how much of
what it read had a readable seller line."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from app.db.pool import Pool
from app.repositories import runs as runs_repo
from app.repositories.runs import FinishedRunRow
from app.security import Caller
from app.services.runs.usage import KINDS

MAX_RUNS = 10_000
COLUMNS = (
    "id", "name", "status", "provider", "started_at", "completed_at", "duration_seconds", "categories",
    "refresh", "products_searched", "products_remembered",
    "sellers_found", "sellers_new", "requests_total", *KINDS, "ebay_pages_skipped",
    "listings_read", "listings_with_seller", "seller_coverage",
    "cost_usd", "cost_per_new_seller_usd", "requests_per_new_seller",
)  # fmt: skip


def _row(run: FinishedRunRow) -> list[object]:
    by_kind = {kind: sum(k.get(kind, 0) for k in run.upstream_requests.values()) for kind in KINDS}
    total = sum(by_kind.values())
    cost = Decimal(run.upstream_cost)
    new = run.sellers_new
    return [
        run.id, run.name, run.status, run.provider, run.started_at and run.started_at.isoformat(),
        run.completed_at and run.completed_at.isoformat(),
        None if run.duration_seconds is None else round(run.duration_seconds, 1), run.categories_count,
        run.refresh, run.products_searched, run.products_remembered,
        run.sellers_found, new, total, *by_kind.values(), run.ebay_pages_skipped,
        run.listings_read, run.listings_with_seller,
        f"{run.listings_with_seller / run.listings_read:.4f}" if run.listings_read else "",
        f"{cost:.4f}", f"{cost / new:.4f}" if new else "", f"{total / new:.2f}" if new else "",
    ]  # fmt: skip


async def runs_csv(pool: Pool, *, caller: Caller) -> str:
    """The org's finished runs (newest first, at most MAX_RUNS) as a CSV document."""
    async with pool.connection() as conn:
        runs, _ = await runs_repo.list_finished_runs(conn, org_id=caller.org_id, limit=MAX_RUNS, offset=0)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(_row(run) for run in runs)
    return out.getvalue()
