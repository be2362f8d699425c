"""No silent zeros, requests and cost on the run, pages not worth fetching: whole runs on fake Oxylabs.

The fake serves gallery view (no seller lines) to any eBay URL that does not ask for list view,
as eBay does for many queries.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from decimal import Decimal
from typing import Any

import psycopg

from app.services.catalogue import categories_by_id
from tests.fakes.fake_oxylabs import FakeOxylabs, FakeSeller, amazon_item, ebay_key
from tests.support import FAST_RETRIES, Feed, LiveServer, TokenFactory, run_event, start_run

CATEGORY_IDS = sorted(categories_by_id())[20:26]
PRICE_PER_1000 = 2.5
PRODUCTS_PER_CATEGORY = 3
SETTINGS = FAST_RETRIES | {"oxylabs_price_per_1000": PRICE_PER_1000, "ebay_pages_per_product": 3}


def node(c: int) -> str:
    return categories_by_id()[CATEGORY_IDS[c]].node_id


def title(c: int, p: int) -> str:
    return f"Layout gadget {c}-{p}"


def build_fake() -> FakeOxylabs:
    catalogue = {
        node(c): [
            amazon_item(f"B0LAY{c}{p}XXX", title=title(c, p), price=20 + p, pos=p + 1)
            for p in range(PRODUCTS_PER_CATEGORY)
        ]
        for c in range(len(CATEGORY_IDS))
    }
    # Two result pages per product; sellers repeat across products.
    sellers_by_query = {
        title(c, p): [
            [FakeSeller(f"layout_seller_{(c + p + k) % 7}", feedback_count=300 + (c + p + k) % 7) for k in range(2)],
            [FakeSeller(f"layout_page2_{c}_{p}", feedback_count=12)],
        ]
        for c in range(len(CATEGORY_IDS))
        for p in range(PRODUCTS_PER_CATEGORY)
    }
    return FakeOxylabs(catalogue=catalogue, sellers_by_query=sellers_by_query, default_view="gallery")


OXYLABS = build_fake()
FAKES = [OXYLABS]  # reset before each test: no faults, no requests, the card layout, prices inside the window


async def run_to_end(
    live: LiveServer, token: str, categories: list[int]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    async with live.client(token) as client:
        run, feed = await start_run(live, client, [CATEGORY_IDS[c] for c in categories])
        # The execution ending is the signal (a paused run's stream stays open for a resume).
        await asyncio.wait_for(live.runtime.executor.wait(uuid.UUID(run["id"])), 60)
        final = (await client.get(f"/collection/runs/{run['id']}")).json()
        ended = final["status"] == "completed"
        events = await feed.until(run_event("complete", "failed", "cancelled")) if ended else []
    return final, events


async def test_list_view_is_asked_for_so_a_gallery_serving_upstream_yields_sellers_with_requests_and_cost(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    identity = await make_identity()
    final, events = await run_to_end(live, identity.token, [0, 1])

    products = [(c, p) for c in (0, 1) for p in range(PRODUCTS_PER_CATEGORY)]
    expected = {f"layout_seller_{(c + p + k) % 7}" for c, p in products for k in range(2)}
    expected |= {f"layout_page2_{c}_{p}" for c, p in products}
    assert final["status"] == "completed", final["status_reason"]
    assert final["sellers_new"] == len(expected)
    assert all("_dmd=1" in p["url"] for p in OXYLABS.received if p["source"] == "universal_ecommerce")
    # Requests by provider and kind, stored on the run, and what they cost.
    assert final["upstream_requests"] == {"oxylabs": {"best_sellers": 2, "ebay_page": 2 * len(products)}}
    assert final["requests_total"] == 2 + 2 * len(products)
    assert Decimal(str(final["upstream_cost"])) == Decimal(str(PRICE_PER_1000)) * final["requests_total"] / 1000
    assert final["cost_per_new_seller"] == round(final["upstream_cost"] / final["sellers_new"], 4)
    assert final["ebay_pages_skipped"] == 0
    fetching = [e for e in events if e["action"] == "fetching"]
    assert fetching and all(1 <= e["concurrency_limit"] <= 5 for e in fetching)

    # The same figures in the run history and the CSV export of runs.
    async with live.client(identity.token) as client:
        history = (await client.get("/collection/runs/history")).json()["runs"]
        exported = await client.get("/collection/runs/export")
    assert history[0]["id"] == final["id"] and history[0]["requests_total"] == final["requests_total"]
    assert history[0]["upstream_cost"] == final["upstream_cost"]
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["id"] for r in rows] == [final["id"]]
    assert rows[0]["requests_total"] == str(final["requests_total"])
    assert rows[0]["ebay_page"] == str(2 * len(products)) and rows[0]["rate_limited"] == "0"
    assert Decimal(rows[0]["cost_usd"]) == Decimal(str(final["upstream_cost"])).quantize(Decimal("0.0001"))
    assert Decimal(rows[0]["requests_per_new_seller"]) == round(
        Decimal(final["requests_total"]) / final["sellers_new"], 2
    )


async def test_an_unreadable_layout_pauses_the_run_saying_so(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    OXYLABS.layout = "unknown"
    identity = await make_identity()
    final, events = await run_to_end(live, identity.token, [2, 3])

    assert final["status"] == "paused"
    assert "page layout was not understood" in final["status_reason"]
    assert events == []
    retried = [p for p in OXYLABS.received if p["source"] == "universal_ecommerce" and p["url"].endswith("&rt=nc")]
    first = {p["url"] for p in OXYLABS.received if p["source"] == "universal_ecommerce" and "rt=nc" not in p["url"]}
    assert len(retried) >= 3 and all(p["url"].removesuffix("&rt=nc") in first for p in retried)
    assert final["sellers_new"] == 0
    # Requests cancelled by the pause were never answered, so never counted.
    assert 3 <= final["upstream_requests"]["oxylabs"]["retry"] <= len(retried)
    with psycopg.connect(db_url) as conn:
        failed = conn.execute(
            "SELECT last_error FROM collection_items WHERE run_id = %s AND status = 'failed'", (final["id"],)
        ).fetchall()
    # Products that failed before the pause keep their error (one still being stored when the pause
    # cancelled its worker goes back to the queue instead).
    assert all("layout not understood" in row[0] for row in failed)

    # Once the pages can be read again, resuming finishes the run, the tipping product included.
    OXYLABS.layout = "card"
    async with live.client(identity.token) as client:
        feed = Feed(live, final["id"])
        assert (await client.post(f"/collection/runs/{final['id']}/resume")).status_code == 200
        await feed.until(run_event("complete", "failed"))
        resumed = (await client.get(f"/collection/runs/{final['id']}")).json()
    assert resumed["status"] == "completed"
    assert resumed["sellers_new"] > 0


async def test_pages_after_one_without_listings_in_the_window_are_skipped_and_counted(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    OXYLABS.listing_price = Decimal("1.00")  # far below every window
    identity = await make_identity()
    final, _ = await run_to_end(live, identity.token, [4])

    assert final["status"] == "completed", final["status_reason"]
    for p in range(PRODUCTS_PER_CATEGORY):
        assert OXYLABS.requests[ebay_key(title(4, p), 1)] == 1
        assert OXYLABS.requests[ebay_key(title(4, p), 2)] == 0
    assert final["ebay_pages_skipped"] == 2 * PRODUCTS_PER_CATEGORY  # pages 2 and 3 of each product
    assert final["upstream_requests"]["oxylabs"]["ebay_page"] == PRODUCTS_PER_CATEGORY
