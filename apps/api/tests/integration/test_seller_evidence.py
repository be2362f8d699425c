"""Evidence written by real runs: each listing read with a seller, upserted on repeats, alike from both eBay routes.

The eBay phase runs against the fake Oxylabs (HTML pages) or the fake Browse API over loopback; a
recording proxy around the real providers shows which listings a run actually read, so the rows
are compared with what the run saw, not with what the test expects it to see.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
import pytest

from app.scrapers.base import EbaySearchPage, Marketplace, PriceWindow
from app.services.catalogue import categories_by_id
from tests.fakes.fake_ebay_browse import FakeEbayBrowse
from tests.fakes.fake_oxylabs import FakeOxylabs, FakeSeller, amazon_item
from tests.fakes.faulty_upstream import serve_fake
from tests.support import FAST_RETRIES, LiveServer, TokenFactory, start_run, terminal

CATEGORY = sorted(categories_by_id())[0]
NODE = categories_by_id()[CATEGORY].node_id
TITLES = ["Evidence whisk deluxe", "Evidence kettle steel", "Evidence mug set"]


def sellers_for(title: str, index: int) -> list[FakeSeller]:
    """Three listings per search; `shared_seller` turns up on every product, with its own item each time."""
    return [
        FakeSeller("shared_seller", feedback_count=812, item_id=f"40000000{index}001"),
        FakeSeller(f"only_on_{index}", feedback_count=90 + index, item_id=f"40000000{index}002"),
        FakeSeller(f"also_on_{index}", feedback_count=250_000, item_id=f"40000000{index}003"),
    ]


OXYLABS = FakeOxylabs(
    catalogue={NODE: [amazon_item(f"B0EVID{i}0XX", title=t, price=20 + i, pos=i + 1) for i, t in enumerate(TITLES)]},
    sellers_by_query={t: [sellers_for(t, i)] for i, t in enumerate(TITLES)},
)
BROWSE = FakeEbayBrowse(sellers_by_query={t: sellers_for(t, i) for i, t in enumerate(TITLES)}, fallback=None)
FAKES = [OXYLABS, BROWSE]
# The module's server reads eBay pages through Oxylabs; a second server (serve_with) uses the Browse API.
SETTINGS = FAST_RETRIES | {"ebay_pages_per_product": 1, "ebay_provider": None}

EVIDENCE_SQL = """
    SELECT s.normalized_name, e.ebay_item_id::text, e.ebay_title, e.ebay_price, e.currency, e.url, p.asin,
           p.title, e.amazon_price, e.title_match, e.in_window, e.run_id::text, e.first_seen_at, e.last_seen_at,
           e.location
    FROM seller_evidence e JOIN sellers s ON s.id = e.seller_id JOIN amazon_products p ON p.id = e.product_id
    WHERE s.org_id = %s ORDER BY 1, 2
"""


def evidence(db_url: str, org_id: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(EVIDENCE_SQL, (org_id,)).fetchall()


async def collect(live: LiveServer, token: str) -> dict[str, Any]:
    async with live.client(token) as client:
        # "all": a repeat run reads the same listings again (the search memory would skip them).
        run, feed = await start_run(live, client, [CATEGORY], refresh="all")
        events = await feed.until(terminal)
        final: dict[str, Any] = (await client.get(f"/collection/runs/{run['id']}")).json()
    assert final["status"] == "completed", final["status_reason"]
    final["events"] = events
    return final


class Recording:
    """A marketplace proxy keeping every eBay page the run read (the listings it could make evidence of)."""

    def __init__(self, inner: Marketplace) -> None:
        self.inner = inner
        self.name = inner.name
        self.pages: list[tuple[str, EbaySearchPage]] = []

    async def bestsellers(self, node_id: str) -> Any:
        return await self.inner.bestsellers(node_id)

    async def search_sellers(self, query: str, window: PriceWindow, page: int, **kwargs: Any) -> EbaySearchPage:
        result = await self.inner.search_sellers(query, window, page, **kwargs)
        self.pages.append((query, result))
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def recorded(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> list[Recording]:
    executor = live.runtime.executor
    made: list[Recording] = []
    factory = executor._factory

    def recording(provider: str) -> Marketplace:
        made.append(Recording(factory(provider)))
        return made[-1]  # type: ignore[return-value]

    monkeypatch.setattr(executor, "_factory", recording)
    monkeypatch.setattr(executor, "_marketplaces", {})
    return made


async def test_html_route_evidence_is_every_listing_read_and_a_repeat_run_upserts(
    live: LiveServer, make_identity: TokenFactory, db_url: str, recorded: list[Recording]
) -> None:
    me = await make_identity()
    first = await collect(live, me.token)
    read = {
        (listing.seller.username, listing.item_id, listing.title, listing.price)
        for _, page in recorded[0].pages
        for listing in page.listings
        if listing.seller is not None
    }
    rows = evidence(db_url, me.org_id)
    assert len(read) == 9
    assert {(r[0], r[1], r[2], r[3]) for r in rows} == read
    for row in rows:
        asin, title, amazon_price = row[6], row[7], row[8]
        assert title == TITLES[int(asin[6])] and amazon_price == Decimal(20 + int(asin[6]))
        assert row[2] == f"{title} - Brand New" and row[9] == Decimal("1.000")  # noise words do not count
        assert row[10] is True and row[4] == "USD" and row[5] is None  # canonical URL: not stored
        assert row[11] == first["id"] and row[12] == row[13]

    # The `found` events name up to three sellers, the new ones first.
    found = [e for e in first["events"] if e["phase"] == "ebay" and e["action"] == "found"]
    assert all(1 <= len(e["sellers"]) <= 3 for e in found)
    assert sum(s["new"] for e in found for s in e["sellers"]) == first["sellers_new"] == 7

    second = await collect(live, me.token)
    again = evidence(db_url, me.org_id)
    assert [r[:11] for r in again] == [r[:11] for r in rows]
    assert all(a[11] == second["id"] and a[12] == r[12] and a[13] > r[13] for a, r in zip(again, rows, strict=True))


async def test_the_browse_api_stores_the_same_evidence_as_the_html_route(
    live: LiveServer, make_identity: TokenFactory, db_url: str, serve_with: Any, upstream_settings: dict[str, Any]
) -> None:
    html_org = await make_identity()
    await collect(live, html_org.token)
    async with serve_with(**(upstream_settings | SETTINGS | {"ebay_provider": "ebay_api"})) as browse_live:
        browse_org = await make_identity()
        final = await collect(browse_live, browse_org.token)
    assert final["provider"] == "oxylabs+ebay_api"
    by_html, by_browse = evidence(db_url, html_org.org_id), evidence(db_url, browse_org.org_id)
    assert len(by_html) == 9
    # Same listings, titles, prices, products and matches; the Browse API also tells the location.
    assert [r[:11] for r in by_browse] == [r[:11] for r in by_html]
    assert {r[14] for r in by_browse} == {"US"} and {r[14] for r in by_html} == {None}


async def test_an_upstream_url_off_the_marketplace_never_becomes_a_link(
    live: LiveServer, make_identity: TokenFactory, db_url: str, serve_with: Any, upstream_settings: dict[str, Any]
) -> None:
    hostile = {
        TITLES[0]: [FakeSeller("url_one", item_id="500000000001")],
        TITLES[1]: [FakeSeller("url_two", item_id="500000000002")],
        TITLES[2]: [FakeSeller("url_three", item_id="500000000003")],
    }
    urls = {
        "500000000001": "javascript:alert(document.cookie)",
        "500000000002": "http://evil.example/itm/500000000002",
        "500000000003": "https://www.ebay.co.uk/itm/500000000003",
    }
    browse = FakeEbayBrowse(sellers_by_query=hostile, fallback=None, web_urls=urls)
    async with (
        serve_fake(browse) as base,
        serve_with(**(upstream_settings | SETTINGS | browse.settings(base))) as browse_live,
    ):
        me = await make_identity()
        await collect(browse_live, me.token)
        stored = {r[1]: r[5] for r in evidence(db_url, me.org_id)}
        assert stored == {"500000000001": None, "500000000002": None, "500000000003": urls["500000000003"]}
        async with browse_live.client(me.token) as client:
            sellers = (await client.get("/sellers", params={"sort": "name"})).json()["sellers"]
            links = {}
            for seller in sellers:
                page = (await client.get(f"/sellers/{seller['id']}/listings")).json()
                links |= {x["ebay_item_id"]: x["ebay_url"] for x in page["listings"]}
    assert links == {
        "500000000001": "https://www.ebay.com/itm/500000000001",
        "500000000002": "https://www.ebay.com/itm/500000000002",
        "500000000003": "https://www.ebay.co.uk/itm/500000000003",
    }
