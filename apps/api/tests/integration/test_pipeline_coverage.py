"""Seller-line coverage (issue 23): partial pages are reported, still yield their sellers, and pause a run
whose pages stay mostly unreadable. Whole runs on fake Oxylabs, whose pages can mix listings with a
readable seller line and listings whose seller line is in markup no parser knows.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from typing import Any

import psycopg

from app.services.catalogue import categories_by_id
from tests.fakes.fake_oxylabs import FakeOxylabs, FakeSeller, amazon_item
from tests.support import FAST_RETRIES, LiveServer, TokenFactory, run_event, start_run

CATEGORY_IDS = sorted(categories_by_id())[30:32]
PARTIAL, STEADY = 0, 1  # categories: one partial page among readable ones; every page mostly unreadable
STEADY_PRODUCTS = 20  # twice the 10 pages the pause looks at
SETTINGS = FAST_RETRIES


def node(c: int) -> str:
    return categories_by_id()[CATEGORY_IDS[c]].node_id


def sellers(prefix: str, readable: int, unreadable: int) -> list[FakeSeller]:
    shown = [FakeSeller(f"{prefix}_ok_{k}", feedback_count=200 + k) for k in range(readable)]
    return shown + [FakeSeller(f"{prefix}_hidden_{k}", unreadable=True) for k in range(unreadable)]


def build_fake() -> FakeOxylabs:
    steady = [f"Steady gadget {p}" for p in range(STEADY_PRODUCTS)]
    catalogue = {
        node(PARTIAL): [
            amazon_item("B0COVPART0", title="Partial gadget", price=30, pos=1),
            amazon_item("B0COVFULL0", title="Readable gadget", price=30, pos=2),
        ],
        node(STEADY): [amazon_item(f"B0COVST{p:03d}", title=t, price=30, pos=p + 1) for p, t in enumerate(steady)],
    }
    sellers_by_query = {
        # 5 listings, 2 of them (40 %) without a readable seller line.
        "Partial gadget": [sellers("partial", readable=3, unreadable=2)],
        "Readable gadget": [sellers("readable", readable=4, unreadable=0)],
    } | {t: [sellers(f"steady{p}", readable=1, unreadable=2)] for p, t in enumerate(steady)}
    return FakeOxylabs(catalogue=catalogue, sellers_by_query=sellers_by_query)


OXYLABS = build_fake()
FAKES = [OXYLABS]


def stored_sellers(db_url: str, org_id: uuid.UUID) -> set[str]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT display_name FROM sellers WHERE org_id = %s", (org_id,)).fetchall()
    return {row[0] for row in rows}


async def run_until_it_stops(
    live: LiveServer, token: str, category: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    async with live.client(token) as client:
        run, feed = await start_run(live, client, [CATEGORY_IDS[category]])
        await asyncio.wait_for(live.runtime.executor.wait(uuid.UUID(run["id"])), 60)
        events = await feed.until(run_event("complete", "paused", "failed"))
        final = (await client.get(f"/collection/runs/{run['id']}")).json()
    return final, events


async def test_a_page_with_40_percent_unreadable_listings_is_reported_and_its_sellers_are_stored(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    identity = await make_identity()
    final, events = await run_until_it_stops(live, identity.token, PARTIAL)

    assert final["status"] == "completed", final["status_reason"]
    errors = [e for e in events if e["action"] == "error"]
    assert [(e["error_type"], e["error_message"], e["product_name"]) for e in errors] == [
        ("layout", "2 of 5 listings without a readable seller", "Partial gadget")
    ]
    assert "_nkw=Partial+gadget" in errors[0]["url"]
    # The partial page still yielded what it read.
    readable = {f"partial_ok_{k}" for k in range(3)} | {f"readable_ok_{k}" for k in range(4)}
    assert stored_sellers(db_url, identity.org_id) == readable
    assert final["sellers_new"] == len(readable)
    assert (final["listings_read"], final["listings_with_seller"], final["seller_coverage"]) == (9, 7, 0.7778)

    # The same coverage in progress, the run list, the history and the CSV export of runs.
    async with live.client(identity.token) as client:
        progress = (await client.get(f"/collection/runs/{final['id']}/progress")).json()
        listed = (await client.get("/collection/runs")).json()["runs"]
        history = (await client.get("/collection/runs/history")).json()["runs"]
        exported = await client.get("/collection/runs/export")
    for shown in (progress["run"], listed[0], history[0]):
        assert shown["id"] == final["id"]
        assert (shown["listings_read"], shown["listings_with_seller"], shown["seller_coverage"]) == (9, 7, 0.7778)
    [row] = csv.DictReader(io.StringIO(exported.text))
    assert (row["listings_read"], row["listings_with_seller"], row["seller_coverage"]) == ("9", "7", "0.7778")


async def test_a_run_whose_pages_stay_under_half_readable_pauses_saying_why_and_keeps_what_it_read(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    identity = await make_identity()
    final, events = await run_until_it_stops(live, identity.token, STEADY)

    assert final["status"] == "paused"
    assert final["status_reason"].startswith("Paused: seller lines could not be read: ")
    assert "of 30 listings on the last 10 result pages had no readable seller" in final["status_reason"]
    [paused] = [e for e in events if e["phase"] == "run" and e["action"] == "paused"]
    assert paused["error_message"] == final["status_reason"]
    # Every page said it was partial, and every product searched before the pause kept its seller.
    assert len([e for e in events if e["action"] == "error" and e["error_type"] == "layout"]) >= 10
    assert 10 <= final["products_searched"] < STEADY_PRODUCTS
    assert final["sellers_new"] == final["products_searched"]
    assert len(stored_sellers(db_url, identity.org_id)) == final["products_searched"]
    assert final["listings_with_seller"] * 3 == final["listings_read"]
