"""The pipeline against a fake Oxylabs server on loopback, speaking the documented formats."""

from __future__ import annotations

import asyncio
from datetime import datetime

import psycopg

from app.services.catalogue import categories_by_id
from tests.fakes.fake_oxylabs import (
    FakeOxylabs,
    FakeSeller,
    OxylabsFault,
    amazon_item,
    amazon_key,
    ebay_key,
)
from tests.support import FAST_RETRIES, LiveServer, TokenFactory, run_event, start_run

CATEGORY_IDS = sorted(categories_by_id())
SETTINGS = FAST_RETRIES


def node(category_id: str) -> str:
    return categories_by_id()[category_id].node_id


def title(c: int, p: int) -> str:
    return f"Gadget {c:02d}-{p:02d}"


def asin(c: int, p: int) -> str:
    return f"B0{c:02d}{p:02d}XYZ"


def build_fake() -> FakeOxylabs:
    """Every category c has 6 products; its last two are also listed by category c + 1.

    Product (c, p) has sellers on 1 or 2 pages; sellers repeat across products.
    """
    catalogue: dict[str, list[dict[str, object]]] = {}
    sellers_by_query: dict[str, list[list[FakeSeller]]] = {}
    for c, category_id in enumerate(CATEGORY_IDS):
        items = [amazon_item(asin(c, p), title=title(c, p), price=10 + p, pos=p) for p in range(6)]
        if c > 0:
            items += [amazon_item(asin(c - 1, p), title=title(c - 1, p), price=10 + p, pos=p) for p in (4, 5)]
        catalogue[node(category_id)] = items
        for p in range(6):
            first = [FakeSeller(f"seller_{(c * 3 + p + k) % 40:02d}", feedback_count=100 + k) for k in range(3)]
            pages = [first, [FakeSeller(f"page2_{c:02d}_{p}", feedback_count=7, feedback_percent="98.1")]]
            sellers_by_query[title(c, p)] = pages if p % 2 else pages[:1]
    return FakeOxylabs(catalogue=catalogue, sellers_by_query=sellers_by_query)


OXYLABS = build_fake()
FAKES = [OXYLABS]  # reset before each test: categories share products, so counts must start at zero


def expected_products(categories: list[int]) -> set[tuple[int, int]]:
    own = {(c, p) for c in categories for p in range(6)}
    return own | {(c - 1, p) for c in categories if c > 0 for p in (4, 5)}


def expected_sellers(categories: list[int]) -> tuple[int, set[str]]:
    """(sellers found summed over unique products, distinct sellers) for a run over these categories."""
    products = expected_products(categories)
    found = 0
    distinct: set[str] = set()
    for c, p in products:
        names = {f"seller_{(c * 3 + p + k) % 40:02d}" for k in range(3)}
        if p % 2:
            names.add(f"page2_{c:02d}_{p}")
        found += len(names)
        distinct |= names
    return found, distinct


ended = run_event("complete", "failed", "cancelled", "paused")


def chosen(categories: list[int]) -> list[str]:
    return [CATEGORY_IDS[c] for c in categories]


async def test_full_run_stores_the_right_products_sellers_counters_and_snapshot(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    identity = await make_identity()
    categories = [0, 2]  # 2 also lists two of 1's products, which no chosen category owns
    async with live.client(identity.token) as client:
        run, feed = await start_run(live, client, chosen(categories))
        events = await feed.until(ended)
        final = (await client.get(f"/collection/runs/{run['id']}")).json()

    found, distinct = expected_sellers(categories)
    assert final["status"] == "completed", final["status_reason"]
    assert final["products_total"] == final["products_searched"] == len(expected_products(categories)) == 14
    assert final["sellers_found"] == found
    assert final["sellers_new"] == len(distinct) == final["seller_count_snapshot"]
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT display_name, feedback_score, feedback_percent::text, times_seen FROM sellers WHERE org_id = %s",
            (identity.org_id,),
        ).fetchall()
    assert {r[0] for r in rows} == distinct
    page2 = [r for r in rows if r[0].startswith("page2_")]
    assert page2 and all(r[1] == 7 and r[2] == "98.10" for r in page2)
    assert sum(r[3] for r in rows) == found  # times_seen counts every product that listed the seller

    for c in categories:
        assert OXYLABS.requests[amazon_key(node(CATEGORY_IDS[c]))] == 1
    for c, p in expected_products(categories):
        assert OXYLABS.requests[ebay_key(title(c, p), 1)] == 1  # incl. products listed by two categories
        assert OXYLABS.requests[ebay_key(title(c, p), 2)] == (1 if p % 2 else 0)  # follows "next" only when shown

    fetch = next(e for e in events if e["action"] == "fetching" and e["phase"] == "ebay")
    params = fetch["api_params"]
    assert params["price_min"] == round(params["amazon_price"] * 1.8)
    assert params["price_max"] == round(params["amazon_price"] * 2.2)
    payload = next(p for p in OXYLABS.received if p["source"] == "universal_ecommerce")
    assert "LH_ItemCondition=1000" in payload["url"] and "LH_Free=1" in payload["url"]
    assert "LH_PrefLoc=1" in payload["url"] and "_udlo=" in payload["url"] and "_ipg=60" in payload["url"]


async def test_rate_limit_holds_the_whole_run_for_retry_after(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    category = 3
    OXYLABS.fail(OxylabsFault.rate_limited(retry_after="1", times=1), key=amazon_key(node(CATEGORY_IDS[category])))
    async with live.client(identity.token) as client:
        run, feed = await start_run(live, client, chosen([category, 4]))
        events = await feed.until(ended)
        final = (await client.get(f"/collection/runs/{run['id']}")).json()
    assert final["status"] == "completed"
    limited = [e for e in events if e["action"] == "rate_limited"]
    assert len(limited) == 1
    assert limited[0]["retry_after_seconds"] == 1.0 and limited[0]["error_type"] == "rate_limit"
    assert OXYLABS.requests[amazon_key(node(CATEGORY_IDS[category]))] == 2
    # Nothing was requested during the hold: every later fetch starts at least a second after the 429.
    held_at = datetime.fromisoformat(limited[0]["timestamp"])
    later = [
        datetime.fromisoformat(e["timestamp"]) for e in events[events.index(limited[0]) :] if e["action"] == "fetching"
    ]
    assert later and all((t - held_at).total_seconds() >= 0.95 for t in later)


async def test_consecutive_5xx_pause_and_resume_finishes_without_refetching(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    identity = await make_identity()
    categories = [5, 6, 7, 8]
    async with live.client(identity.token) as client:
        run, feed = await start_run(live, client, chosen(categories))
        await feed.until(lambda ev: sum(e["action"] == "found" and e["phase"] == "ebay" for e in ev) >= 4)
        OXYLABS.fail(OxylabsFault.server_error(503))
        events = await feed.until(run_event("paused"))
        paused = (await client.get(f"/collection/runs/{run['id']}")).json()
        assert paused["status"] == "paused"
        assert paused["status_reason"].startswith("Paused after 5 consecutive failures")
        assert "503" in paused["status_reason"]
        with psycopg.connect(db_url) as conn:
            done_before = [
                r[0]
                for r in conn.execute(
                    "SELECT payload->>'title' FROM collection_items "
                    "WHERE run_id = %s AND kind = 'product' AND status = 'completed'",
                    (run["id"],),
                )
            ]
        assert len(done_before) >= 4
        requests_before = {t: OXYLABS.requests[ebay_key(t, 1)] for t in done_before}
        assert set(requests_before.values()) == {1}

        OXYLABS.clear_faults()
        assert (await client.post(f"/collection/runs/{run['id']}/resume")).json()["status"] == "running"
        await feed.until(run_event("complete"))
        final = (await client.get(f"/collection/runs/{run['id']}")).json()
    assert final["status"] == "completed" and final["status_reason"] is None
    assert {t: OXYLABS.requests[ebay_key(t, 1)] for t in done_before} == requests_before  # never fetched again
    for c in categories:
        assert OXYLABS.requests[amazon_key(node(CATEGORY_IDS[c]))] == 1
    found, distinct = expected_sellers(categories)
    assert final["sellers_new"] == len(distinct) and final["sellers_found"] == found
    assert any(e["action"] == "error" and e["error_type"] == "http_error" for e in events)


async def test_a_malformed_body_fails_that_item_with_a_clear_stored_error(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    identity = await make_identity()
    OXYLABS.fail(OxylabsFault.malformed("invalid_json"), key=ebay_key(title(9, 2), 1))
    async with live.client(identity.token) as client:
        run, feed = await start_run(live, client, chosen([9]))
        await feed.until(ended)
        final = (await client.get(f"/collection/runs/{run['id']}")).json()
    assert final["status"] == "completed"
    assert final["failed_items"] == 1
    with psycopg.connect(db_url) as conn:
        failed = conn.execute(
            "SELECT payload->>'title', last_error, attempts FROM collection_items "
            "WHERE run_id = %s AND status = 'failed'",
            (run["id"],),
        ).fetchall()
    assert len(failed) == 1
    assert failed[0][0] == title(9, 2)
    assert "malformed" in failed[0][1].lower()
    assert OXYLABS.requests[ebay_key(title(9, 2), 1)] == 1  # a malformed body is not retried


async def test_cancel_stops_in_flight_requests(live: LiveServer, make_identity: TokenFactory, db_url: str) -> None:
    identity = await make_identity()
    stall = OXYLABS.fail(OxylabsFault.slow(release=asyncio.Event()), key=None)
    async with live.client(identity.token) as client:
        run, feed = await start_run(live, client, chosen([10, 11]))
        await asyncio.wait_for(stall.arrived.wait(), 10)
        cancelled = await client.post(f"/collection/runs/{run['id']}/cancel")
        events = await feed.until(run_event("cancelled"))
        total = sum(OXYLABS.requests.values())
    assert cancelled.json()["status"] == "cancelled"
    assert events[-1]["action"] == "cancelled"
    with psycopg.connect(db_url) as conn:
        processing = conn.execute(
            "SELECT count(*) FROM collection_items WHERE run_id = %s AND status = 'processing'", (run["id"],)
        ).fetchone()
    assert processing == (0,)
    assert sum(OXYLABS.requests.values()) == total  # nothing more was sent after the cancel returned


async def test_two_concurrent_runs_count_each_new_seller_once(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    identity = await make_identity()
    categories = [12, 13, 14]
    async with live.client(identity.token) as client:
        started = [await start_run(live, client, chosen(categories)) for _ in range(2)]
        await asyncio.gather(*(feed.until(ended) for _, feed in started))
        finals = [(await client.get(f"/collection/runs/{run['id']}")).json() for run, _ in started]
    _, distinct = expected_sellers(categories)
    assert [f["status"] for f in finals] == ["completed", "completed"]
    assert finals[0]["sellers_new"] + finals[1]["sellers_new"] == len(distinct)
    with psycopg.connect(db_url) as conn:
        count = conn.execute("SELECT count(*) FROM sellers WHERE org_id = %s", (identity.org_id,)).fetchone()
    assert count == (len(distinct),)
