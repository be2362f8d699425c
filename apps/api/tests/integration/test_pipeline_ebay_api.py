"""A whole collection run with Amazon from (fake) Oxylabs and eBay from the (fake) Browse API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from app.main import create_app
from app.services.catalogue import categories_by_id
from tests.fakes.fake_ebay_browse import BrowseFault, FakeEbayBrowse, default_sellers
from tests.fakes.fake_oxylabs import FakeOxylabs, amazon_item
from tests.fakes.faulty_upstream import serve_fake
from tests.support import FAST_RETRIES, Feed, LiveServer, TokenFactory, make_settings, run_event, serve_app

CATEGORY_IDS = sorted(categories_by_id())[:3]


def titles(c: int) -> list[str]:
    return [f"Browse gadget {c}-{p}" for p in range(4)]


@pytest.fixture(scope="module")
async def fakes() -> AsyncIterator[tuple[FakeOxylabs, FakeEbayBrowse, str, str]]:
    catalogue = {
        categories_by_id()[cid].node_id: [
            amazon_item(f"B0API{c}{p}XX", title=t, price=12 + p, pos=p + 1) for p, t in enumerate(titles(c))
        ]
        for c, cid in enumerate(CATEGORY_IDS)
    }
    oxylabs = FakeOxylabs(catalogue=catalogue)
    browse = FakeEbayBrowse()
    async with serve_fake(oxylabs) as oxylabs_url, serve_fake(browse) as browse_url:
        yield oxylabs, browse, oxylabs_url, browse_url


@pytest.fixture(scope="module")
async def live(
    fakes: tuple[FakeOxylabs, FakeEbayBrowse, str, str], db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    oxylabs, browse, oxylabs_url, browse_url = fakes
    settings = make_settings(
        db_url,
        tmp_path_factory.mktemp("data"),
        **oxylabs.settings(oxylabs_url),
        **browse.settings(browse_url),
        **FAST_RETRIES,
    )
    async for server in serve_app(create_app(settings)):
        yield server


async def test_a_full_collection_runs_on_the_browse_api_with_its_filter_on_every_request(
    live: LiveServer, make_identity: TokenFactory, fakes: tuple[FakeOxylabs, FakeEbayBrowse, str, str], db_url: str
) -> None:
    oxylabs, browse, _, _ = fakes
    browse.reset()
    # One 429 with Retry-After and one refused token on the way: both are absorbed by the run.
    browse.fail(BrowseFault.rate_limited(retry_after="0.2", times=1))
    browse.fail(BrowseFault.expired_token(times=1))
    identity = await make_identity()
    async with live.client(identity.token) as client:
        run = (await client.post("/collection/runs", json={"category_ids": CATEGORY_IDS})).json()
        feed = Feed(live, run["id"])
        assert run["provider"] == "oxylabs+ebay_api"
        assert (await client.post(f"/collection/runs/{run['id']}/start")).status_code == 200
        events = await feed.until(run_event("complete", "failed", "paused"))
        final = (await client.get(f"/collection/runs/{run['id']}")).json()

    all_titles = [t for c in range(len(CATEGORY_IDS)) for t in titles(c)]
    expected = {s.username for t in all_titles for s in default_sellers(t)}
    assert final["status"] == "completed", final["status_reason"]
    assert final["products_searched"] == len(all_titles)
    assert final["sellers_new"] == len(expected)
    # Every search carried the reseller filter, one request of 200 listings per product.
    assert browse.filter_violations == []
    assert len(browse.received) == len(all_titles) + 2  # plus the 429 and the refused token
    assert all(q["limit"] == "200" and q["offset"] == "0" for q in browse.received)
    assert {q["q"] for q in browse.received} == set(all_titles)
    assert browse.mints == 2  # the first token, and one after eBay refused it
    assert not any(p["source"] == "universal_ecommerce" for p in oxylabs.received)  # eBay never went to Oxylabs
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
