"""A whole collection run with Amazon from (fake) Oxylabs and eBay from the (fake) Browse API."""

from __future__ import annotations

from typing import Any

import psycopg

from app.services.catalogue import categories_by_id
from tests.fakes.fake_ebay_browse import BrowseFault, FakeEbayBrowse, default_sellers
from tests.fakes.fake_oxylabs import FakeOxylabs, amazon_item
from tests.support import FAST_RETRIES, LiveServer, TokenFactory, run_event, start_run

CATEGORY_IDS = sorted(categories_by_id())[:3]
SETTINGS = FAST_RETRIES


def titles(c: int) -> list[str]:
    return [f"Browse gadget {c}-{p}" for p in range(4)]


def build_oxylabs() -> FakeOxylabs:
    catalogue = {
        categories_by_id()[cid].node_id: [
            amazon_item(f"B0API{c}{p}XX", title=t, price=12 + p, pos=p + 1) for p, t in enumerate(titles(c))
        ]
        for c, cid in enumerate(CATEGORY_IDS)
    }
    return FakeOxylabs(catalogue=catalogue)


OXYLABS = build_oxylabs()
BROWSE = FakeEbayBrowse()
FAKES = [OXYLABS, BROWSE]


async def test_a_full_collection_runs_on_the_browse_api_with_its_filter_on_every_request(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    # One 429 with Retry-After and one refused token on the way: both are absorbed by the run.
    BROWSE.fail(BrowseFault.rate_limited(retry_after="0.2", times=1))
    BROWSE.fail(BrowseFault.expired_token(times=1))
    identity = await make_identity()
    async with live.client(identity.token) as client:
        run, feed = await start_run(live, client, CATEGORY_IDS)
        assert run["provider"] == "oxylabs+ebay_api"
        events = await feed.until(run_event("complete", "failed", "paused"))
        final = (await client.get(f"/collection/runs/{run['id']}")).json()

    all_titles = [t for c in range(len(CATEGORY_IDS)) for t in titles(c)]
    expected = {s.username for t in all_titles for s in default_sellers(t)}
    assert final["status"] == "completed", final["status_reason"]
    assert final["products_searched"] == len(all_titles)
    assert final["sellers_new"] == len(expected)
    # Every search carried the reseller filter, one request of 200 listings per product.
    assert BROWSE.filter_violations == []
    assert len(BROWSE.received) == len(all_titles) + 2  # plus the 429 and the refused token
    assert all(q["limit"] == "200" and q["offset"] == "0" for q in BROWSE.received)
    assert {q["q"] for q in BROWSE.received} == set(all_titles)
    assert BROWSE.mints == 2  # the first token, and one after eBay refused it
    assert not any(p["source"] == "universal_ecommerce" for p in OXYLABS.received)  # eBay never went to Oxylabs
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT display_name, feedback_score, feedback_percent::text FROM sellers WHERE org_id = %s",
            (identity.org_id,),
        ).fetchall()
    by_name = {s.username: s for t in all_titles for s in default_sellers(t)}
    assert {r[0] for r in rows} == expected
    assert all(r[1] == by_name[r[0]].feedback_count and r[2] == "99.20" for r in rows)
    fetch: dict[str, Any] = next(e for e in events if e["action"] == "fetching" and e["phase"] == "ebay")
    assert fetch["api_params"]["page"] == 1
    assert any(e["action"] == "rate_limited" for e in events)
