"""Seller evidence and the dropshipper score: ranking quality on the demo, list and listings latency, storage.

    .venv/bin/python apps/api/bench/evidence_bench.py [--categories 75] [--sellers 100000] [--evidence 1000000]
        [--big-seller 5000] [--requests 200]

A fresh database is created on the server of DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres),
migrated, and dropped at the end, even on failure. The real app (create_app) is served by uvicorn on a loopback
port in this process; every request goes over real HTTP.

1. Ranking quality: one demo run over the first N categories (demo latency 0), through the API. Every seller
   it found is ranked by `GET /sellers?sort=score` and compared with the demo's ground truth
   (`app.scrapers.demo.seller_kinds`, which the score never reads): precision at k of dropshippers (k = 10, 50,
   100) and the AUC of dropshippers against the rest (the chance that a random dropshipper outranks a random
   other seller; ties count half). Baseline: the same figures for the order a user had before scores, by
   times seen (`times_seen`, the number of product searches that found the seller).
2. Latency: a second org with S sellers (scores spread over 0..100 with many ties, 1 in 10 without one) and E
   evidence rows, one seller holding B of them, loaded with `INSERT ... SELECT generate_series`, then
   VACUUM (ANALYZE). A real `sellercollection serve` process answers `GET /sellers?sort=score&limit=100` at R
   random depths (the first page and pages reached by following cursors) and `GET /sellers/{id}/listings` of
   the big seller (its default page of 50; a page of 100 without a bar) at R depths. p50/p95 against a
   baseline in the same run: `GET /sellers?sort=newest&limit=100`, the list as it was; and `GET /health`.
   Bars (the issue's): p95 <= 50 ms for both.
3. Storage: bytes per evidence row on disk: (table + its indexes + TOAST) / rows, after VACUUM.

Exit 0 when both latency bars hold and the ranking beats the baseline's AUC, else 1.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from scratch_database import run_on_scratch_database

LATENCY_BAR_MS = 50.0

LOAD_SQL = """
INSERT INTO sellers (org_id, display_name, normalized_name, platform, score, products_matched, median_markup,
                     feedback_score, created_at)
SELECT %(org)s, 'seller ' || n, 'seller ' || n, 'ebay',
       CASE WHEN n %% 10 = 0 THEN NULL ELSE (n * 7919) %% 101 END,
       1 + n %% 40, 1.8 + (n %% 40) / 100.0, n %% 5000, now() - n * interval '1 second'
FROM generate_series(1, %(sellers)s) AS n
"""
PRODUCTS_SQL = """
INSERT INTO amazon_products (org_id, asin, title, price, category_id, best_seller_rank)
SELECT %(org)s, 'B0' || lpad(n::text, 8, '0'), 'Bench product ' || n || ' with a title of ordinary length here',
       10 + n %% 90, 'cat-' || n %% 75, 1 + n %% 50
FROM generate_series(1, 10000) AS n
"""
EVIDENCE_SQL = """
WITH s AS (SELECT id, row_number() OVER (ORDER BY id) AS k FROM sellers WHERE org_id = %(org)s),
     p AS (SELECT min(id) AS first FROM amazon_products WHERE org_id = %(org)s),
     e AS (
        SELECT CASE WHEN n <= %(big)s THEN 1 ELSE 2 + (n::bigint * 48271) %% (%(sellers)s - 1) END AS k, n
        FROM generate_series(1, %(evidence)s) AS n
     )
INSERT INTO seller_evidence (seller_id, ebay_item_id, product_id, run_id, ebay_title, ebay_price, amazon_price,
                             title_match, in_window, currency, location, first_seen_at, last_seen_at)
SELECT s.id, 100000000000 + e.n, p.first + e.n %% 10000, %(run)s,
       'Bench product ' || e.n %% 10000 || ' with a title of ordinary length here - Fast Free Shipping',
       20 + e.n %% 180, 10 + e.n %% 90, 0.9 + (e.n %% 100) / 1000.0, true, 'USD', 'US',
       now() - (e.n %% 1000) * interval '1 hour', now()
FROM e JOIN s ON s.k = e.k CROSS JOIN p
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def auc(ranked_positive: list[bool]) -> float:
    """Probability that a random positive ranks above a random negative (the list is best first; no ties here)."""
    positives = sum(ranked_positive)
    negatives = len(ranked_positive) - positives
    if not positives or not negatives:
        return float("nan")
    above = 0
    negatives_below = negatives
    for is_positive in ranked_positive:
        if is_positive:
            above += negatives_below
        else:
            negatives_below -= 1
    return above / (positives * negatives)


def auc_with_ties(scored: list[tuple[float, bool]]) -> float:
    """AUC where equal scores count half (Mann-Whitney U)."""
    ordered = sorted(scored, key=lambda x: x[0])
    ranks: list[float] = [0.0] * len(ordered)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1][0] == ordered[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    positives = sum(1 for _, p in ordered if p)
    negatives = len(ordered) - positives
    rank_sum = sum(r for r, (_, p) in zip(ranks, ordered, strict=True) if p)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


async def all_sellers(client: Any, **params: Any) -> list[dict[str, Any]]:
    sellers: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = (await client.get("/sellers", params=params | ({"cursor": cursor} if cursor else {}))).json()
        sellers += page["sellers"]
        cursor = page["next_cursor"]
        if cursor is None:
            return sellers


async def ranking(live: Any, token: str, categories: int, seed: int) -> bool:
    from tests.support import leaf_ids, start_run, terminal

    from app.scrapers.demo import seller_kinds

    async with live.client(token) as client:
        ids = leaf_ids((await client.get("/amazon/categories")).json())[:categories]
        started = time.perf_counter()
        run, feed = await start_run(live, client, ids)
        await feed.until(terminal, timeout=3600)
        feed.close()
        took = time.perf_counter() - started
        final = (await client.get(f"/collection/runs/{run['id']}")).json()
        # The last profiles are written as the phase ends: the run is complete once they are.
        sellers = await all_sellers(client, sort="score", limit=1000)
    kinds = seller_kinds(seed)
    truth = [kinds[s["display_name"]] == "dropshipper" for s in sellers]
    by_seen = sorted(sellers, key=lambda s: (-s["times_seen"], s["id"]))
    truth_seen = [kinds[s["display_name"]] == "dropshipper" for s in by_seen]
    print(
        f"\n== 1. ranking quality: demo run over {categories} categories ({final['status']}, {took:.1f} s), "
        f"{len(sellers):,} sellers, {sum(truth):,} of them dropshippers =="
    )
    print(f"  {'':28}{'by score':>12}{'by times seen':>16}")
    for k in (10, 50, 100):
        print(f"  precision at {k:<15}{sum(truth[:k]) / k:>12.2f}{sum(truth_seen[:k]) / k:>16.2f}")
    ours = auc_with_ties(
        [(s["score"] if s["score"] is not None else -1, t) for s, t in zip(sellers, truth, strict=True)]
    )
    base = auc_with_ties([(s["times_seen"], t) for s, t in zip(sellers, truth, strict=True)])
    print(f"  {'AUC, dropshippers vs rest':<27}{ours:>12.3f}{base:>16.3f}")
    scored = [s["score"] for s in sellers if s["score"] is not None]
    print(f"  scores: {len(scored):,} sellers, median {statistics.median(scored):.0f}, max {max(scored)}")
    return ours > base


async def timed_gets(client: Any, paths: list[tuple[str, dict[str, Any]]]) -> list[float]:
    timings = []
    for path, params in paths:
        started = time.perf_counter()
        response = await client.get(path, params=params)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return timings


async def cursors(client: Any, path: str, params: dict[str, Any], pages: int) -> list[dict[str, Any]]:
    """The parameters of the first `pages` pages of a listing (following next_cursor)."""
    found = [dict(params)]
    for _ in range(pages - 1):
        page = (await client.get(path, params=found[-1])).json()
        if page["next_cursor"] is None:
            break
        found.append(params | {"cursor": page["next_cursor"]})
    return found


async def load(url: str, args: argparse.Namespace) -> tuple[str, Any, tuple[Any, ...]]:
    """The latency org: a token, its sellers and evidence, vacuumed; (token, big seller's id, size figures)."""
    import psycopg

    from app.db.pool import make_pool
    from app.services import accounts

    pool = make_pool(url, min_size=1, max_size=2)
    await pool.open(wait=True, timeout=30)
    try:
        async with pool.connection() as conn:
            issued = await accounts.issue_token(
                conn, org_name=f"bench-{uuid.uuid4().hex[:8]}", email="b@example.com", permissions=["sellers.read"]
            )
    finally:
        await pool.close()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        params = {"org": issued.org_id, "sellers": args.sellers, "evidence": args.evidence, "big": args.big_seller}
        await conn.execute(LOAD_SQL, params)
        await conn.execute(PRODUCTS_SQL, params)
        await conn.execute(EVIDENCE_SQL, params | {"run": uuid.uuid4()})
        for table in ("sellers", "seller_evidence", "amazon_products"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        big = await (
            await conn.execute(
                "SELECT seller_id, count(*) FROM seller_evidence GROUP BY seller_id ORDER BY 2 DESC LIMIT 1"
            )
        ).fetchone()
        size = await (
            await conn.execute(
                "SELECT pg_total_relation_size('seller_evidence'), pg_relation_size('seller_evidence'), "
                "pg_indexes_size('seller_evidence'), (SELECT count(*) FROM seller_evidence)"
            )
        ).fetchone()
    assert big is not None and size is not None
    return issued.token, big[0], tuple(size)


async def latency(url: str, args: argparse.Namespace) -> bool:
    import httpx
    from tests.support import demo_env, served_process

    started = time.perf_counter()
    token, big, size = await load(url, args)
    print(
        f"\n== 2. latency: {args.sellers:,} sellers, {size[3]:,} evidence rows in the database (one seller with "
        f"{args.big_seller:,}), loaded and vacuumed in {time.perf_counter() - started:.0f} s; "
        f"{args.requests} requests each to a `sellercollection serve` process =="
    )
    rng = random.Random(7)
    ok = True
    cases = {
        "GET /sellers?sort=score&limit=100": ("/sellers", {"sort": "score", "limit": 100}),
        "GET /sellers?sort=score&min_score=60&limit=100": (
            "/sellers",
            {"sort": "score", "min_score": 60, "limit": 100},
        ),
        "GET /sellers/{id}/listings (its page of 50)": (f"/sellers/{big}/listings", {"limit": 50}),
        "info: GET /sellers/{id}/listings?limit=100": (f"/sellers/{big}/listings", {"limit": 100}),
        "baseline: GET /sellers?sort=newest&limit=100": ("/sellers", {"sort": "newest", "limit": 100}),
        "floor: GET /health": ("/health", {}),
    }
    with served_process(demo_env(url, SELLERCOLLECTION_EVIDENCE_SWEEP_SECONDS="86400")) as served:
        async with httpx.AsyncClient(base_url=served.base, headers={"Authorization": f"Bearer {token}"}) as client:
            print(f"  {'request':<48}{'p50 ms':>8}{'p95 ms':>8}  bar")
            for label, (path, params) in cases.items():
                depths = await cursors(client, path, params, pages=min(50, args.requests)) if params else [{}]
                plan = [(path, rng.choice(depths)) for _ in range(args.requests)]
                await timed_gets(client, plan[:10])  # warm-up
                timings = await timed_gets(client, plan)
                p95 = percentile(timings, 95)
                barred = not label.startswith(("baseline", "floor", "info"))
                verdict = ("PASS" if p95 <= LATENCY_BAR_MS else "FAIL") if barred else ""
                ok &= p95 <= LATENCY_BAR_MS or not barred
                print(f"  {label:<48}{statistics.median(timings):>8.1f}{p95:>8.1f}  {verdict}")
    total, heap, indexes, rows = size
    print(
        f"\n== 3. storage: {rows:,} evidence rows: table {heap / rows:.0f} B/row + indexes {indexes / rows:.0f} B/row"
        f" = {total / rows:.0f} bytes per evidence row on disk ({total / 2**20:,.0f} MB) =="
    )
    return ok


async def run(url: str, args: argparse.Namespace) -> bool:
    from tests.support import make_settings, serve_app

    from app.main import create_app
    from app.services import accounts

    settings = make_settings(url, Path(os.environ.get("TMPDIR", "/tmp")), demo_latency_ms=0, db_pool_max_size=10)
    async with serve_app(create_app(settings)) as live:
        async with live.database.pool.connection() as conn:
            issued = await accounts.issue_token(
                conn, org_name="bench-demo", email="demo@example.com", permissions=["admin.automation"]
            )
        ranked = await ranking(live, issued.token, args.categories, settings.demo_seed)
    fast = await latency(url, args)
    return ranked and fast


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--categories", type=int, default=75, help="categories of the demo run (default 75)")
    parser.add_argument("--sellers", type=int, default=100_000, help="sellers of the latency org (default 100,000)")
    parser.add_argument("--evidence", type=int, default=1_000_000, help="evidence rows (default 1,000,000)")
    parser.add_argument("--big-seller", type=int, default=5_000, help="listings of the biggest seller (default 5,000)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per case (default 200)")
    args = parser.parse_args()
    return run_on_scratch_database("sc_evidence_bench", lambda url: run(url, args))


if __name__ == "__main__":
    sys.exit(main())
