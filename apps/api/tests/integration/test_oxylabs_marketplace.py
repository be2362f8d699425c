"""The real OxylabsMarketplace, over real HTTP on loopback, against the fake Oxylabs server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from app.config import Settings
from app.errors import InvalidInput, RateLimited, UpstreamError
from app.scrapers.base import AmazonProduct, Marketplace, PriceWindow
from app.scrapers.demo import DemoMarketplace
from app.scrapers.factory import build_marketplace
from app.scrapers.oxylabs import OxylabsMarketplace, OxylabsTimeouts, ebay_search_url
from app.scrapers.upstream_http import parse_retry_after
from tests.fakes.fake_oxylabs import (
    QUERIES_PATH,
    FakeOxylabs,
    FakeSeller,
    Malformed,
    OxylabsFault,
    amazon_item,
    amazon_key,
    ebay_key,
    shown_feedback_count,
)
from tests.fakes.faulty_upstream import serve_fake

NODE = "289935"
QUERY = "OXO Good Grips 11-Inch Balloon Whisk"
WINDOW = PriceWindow(low=Decimal("18.00"), high=Decimal("22.00"))
SELLER_PAGES = [
    [
        FakeSeller("whisk_world", 460, "99.1"),
        FakeSeller("kitchen-outlet", 15432, "98.7", top_rated=True),
        FakeSeller("Whisk_World", 12, "90.0"),  # the same account on a second listing
    ],
    [FakeSeller("last.page.seller", 2_345_678, "100")],
]
FAST = OxylabsTimeouts(amazon_seconds=5, ebay_seconds=5)


def settings_for(base_url: str, *, username: str = "fake-user", password: str = "fake-pass") -> Settings:
    return Settings(
        provider="oxylabs",
        oxylabs_username=username,
        oxylabs_password=password,
        oxylabs_base_url=base_url + QUERIES_PATH,
    )


def default_fake(**kwargs: Any) -> FakeOxylabs:
    catalogue = {
        NODE: [
            amazon_item("B000000001", title="Whisk", price=19.99, rating=4.7, pos=1),
            amazon_item("B000000002", title="Skillet", price="$1,299.99", rating="4.2", pos=2),
            amazon_item("B000000003", title="Kettle", price=150, rating=None, pos=3, url="https://www.amazon.com/dp/X"),
            amazon_item("B000000004", title="Mystery", price=None, pos=4),
            {"title": "No ASIN at all", "price": 5.0, "pos": 5},
            amazon_item("", title="Blank ASIN", pos=6),
            amazon_item("B000000001", title="Whisk again", pos=7),
        ]
    }
    return FakeOxylabs(catalogue=catalogue, sellers_by_query={QUERY: SELLER_PAGES}, **kwargs)


def amazon_url(asin: str) -> str:
    # The fake answers with relative product links, as Oxylabs' parser does.
    return f"https://www.amazon.com/Product-{asin}/dp/{asin}"


@asynccontextmanager
async def running(
    fake: FakeOxylabs, *, timeouts: OxylabsTimeouts = FAST, password: str = "fake-pass"
) -> AsyncIterator[OxylabsMarketplace]:
    async with serve_fake(fake) as base_url:
        marketplace = OxylabsMarketplace(settings_for(base_url, password=password), timeouts=timeouts)
        try:
            yield marketplace
        finally:
            await marketplace.aclose()


async def both_fail(marketplace: OxylabsMarketplace) -> tuple[UpstreamError, UpstreamError]:
    """What a best-seller list and an eBay search fail with (each must fail)."""
    with pytest.raises(UpstreamError) as amazon:
        await marketplace.bestsellers(NODE)
    with pytest.raises(UpstreamError) as ebay:
        await marketplace.search_sellers(QUERY, WINDOW, 1)
    return amazon.value, ebay.value


async def test_bestsellers_are_parsed_exactly() -> None:
    fake = default_fake()
    async with running(fake) as marketplace:
        products = await marketplace.bestsellers(NODE)
    assert products == [
        AmazonProduct("B000000001", "Whisk", Decimal("19.99"), "USD", 4.7, amazon_url("B000000001"), 1),
        AmazonProduct("B000000002", "Skillet", Decimal("1299.99"), "USD", 4.2, amazon_url("B000000002"), 2),
        # An integer price is dollars, never cents.
        AmazonProduct("B000000003", "Kettle", Decimal("150"), "USD", None, "https://www.amazon.com/dp/X", 3),
        AmazonProduct("B000000004", "Mystery", None, "USD", 4.5, amazon_url("B000000004"), 4),
    ]
    assert fake.received == [
        {"source": "amazon_bestsellers", "domain": "com", "query": NODE, "parse": True, "start_page": 1, "pages": 1}
    ]
    assert fake.requests == {amazon_key(NODE): 1}


async def test_an_empty_best_seller_answer_is_a_layout_error_not_zero_products() -> None:
    async with running(default_fake()) as marketplace:
        with pytest.raises(UpstreamError) as caught:
            await marketplace.bestsellers("1")
    assert caught.value.error_type == "layout"
    assert "layout was not understood" in caught.value.detail


async def test_list_view_is_asked_for_so_a_gallery_by_default_upstream_still_yields_sellers() -> None:
    fake = default_fake(default_view="gallery")
    async with running(fake) as marketplace:
        page = await marketplace.search_sellers(QUERY, WINDOW, 1)
    assert [s.username for s in page.sellers] == ["whisk_world", "kitchen-outlet"]


async def test_an_unreadable_layout_is_a_layout_error_and_the_forced_retry_bypasses_caches() -> None:
    fake = default_fake(layout="unknown")
    async with running(fake) as marketplace:
        with pytest.raises(UpstreamError) as caught:
            await marketplace.search_sellers(QUERY, WINDOW, 1)
        with pytest.raises(UpstreamError):
            await marketplace.search_sellers(QUERY, WINDOW, 1, list_view_forced=True)
    assert caught.value.error_type == "layout"
    assert "no seller line" in caught.value.detail
    first, forced = (urlsplit(p["url"]).query for p in fake.received)
    assert "_dmd=1" in first and "rt=nc" not in first
    assert forced == first + "&rt=nc"


async def test_pages_report_listings_inside_the_price_window() -> None:
    fake = default_fake()
    async with running(fake) as marketplace:
        page = await marketplace.search_sellers(QUERY, WINDOW, 1)
    # The fake prices every listing in the middle of the window it was asked for.
    assert (page.listings_in_window, page.exact_matches_ended) == (3, False)


@pytest.mark.parametrize("layout", ["card", "list", "etrs"])
async def test_sellers_are_parsed_from_the_search_page(layout: Any) -> None:
    fake = default_fake(layout=layout)
    async with running(fake) as marketplace:
        first = await marketplace.search_sellers(QUERY, WINDOW, 1)
        second = await marketplace.search_sellers(QUERY, WINDOW, 2)
        third = await marketplace.search_sellers(QUERY, WINDOW, 3)

    assert [(s.username, s.feedback_count, s.feedback_percent) for s in first.sellers] == [
        ("whisk_world", shown_feedback_count(460, layout), Decimal("99.1")),
        ("kitchen-outlet", shown_feedback_count(15432, layout), Decimal("98.7")),
    ]
    assert all(s.item_url and s.item_url.startswith("https://www.ebay.com/itm/") for s in first.sellers)
    assert first.has_more is True
    assert [s.username for s in second.sellers] == ["last.page.seller"]
    assert second.has_more is False
    assert (third.sellers, third.has_more) == ([], False)
    assert first.url == ebay_search_url(QUERY, WINDOW, 1)
    assert fake.requests == {ebay_key(QUERY, 1): 1, ebay_key(QUERY, 2): 1, ebay_key(QUERY, 3): 1}


async def test_ebay_request_payload_and_url_filters() -> None:
    fake = default_fake()
    async with running(fake) as marketplace:
        await marketplace.search_sellers(QUERY, WINDOW, 2)
    [payload] = fake.received
    assert payload == {
        "source": "universal_ecommerce",
        "url": ebay_search_url(QUERY, WINDOW, 2),
        "geo_location": "United States",
        "user_agent_type": "desktop",
        "render": "html",
    }
    url = urlsplit(payload["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "www.ebay.com", "/sch/i.html")
    assert "_nkw=OXO+Good+Grips+11-Inch+Balloon+Whisk&" in url.query
    assert parse_qs(url.query) == {
        "_nkw": [QUERY],
        "LH_ItemCondition": ["1000"],  # Brand New
        "LH_Free": ["1"],  # free shipping
        "LH_PrefLoc": ["1"],  # located in the US
        "_udlo": ["18.00"],
        "_udhi": ["22.00"],
        "_ipg": ["60"],
        "_pgn": ["2"],
        "_dmd": ["1"],
    }


async def test_an_empty_price_window_costs_no_request() -> None:
    fake = default_fake()
    async with running(fake) as marketplace:
        page = await marketplace.search_sellers(QUERY, PriceWindow(Decimal("20.00"), Decimal("20.00")), 1)
    assert (page.sellers, page.has_more) == ([], False)
    assert fake.requests == {}


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0", 0.0), (None, None), ("soon", None)],
)
async def test_429_raises_rate_limited_with_retry_after(header: str | None, expected: float | None) -> None:
    fake = default_fake()
    fake.fail(OxylabsFault.rate_limited(retry_after=header), key=amazon_key(NODE))
    async with running(fake) as marketplace:
        with pytest.raises(RateLimited) as caught:
            await marketplace.bestsellers(NODE)
    assert caught.value.retry_after == expected
    assert caught.value.error_type == "rate_limit"
    assert fake.requests[amazon_key(NODE)] == 1  # no retry inside the provider


async def test_429_with_an_http_date() -> None:
    fake = default_fake()
    when = datetime.now(UTC) + timedelta(seconds=120)
    fake.fail(OxylabsFault.rate_limited(retry_after=format_datetime(when, usegmt=True)))
    async with running(fake) as marketplace:
        with pytest.raises(RateLimited) as caught:
            await marketplace.search_sellers(QUERY, WINDOW, 1)
    assert caught.value.retry_after is not None
    assert 100 <= caught.value.retry_after <= 120


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_http_errors(status: int) -> None:
    fake = default_fake()
    fake.fail(OxylabsFault.server_error(status))
    async with running(fake) as marketplace:
        errors = await both_fail(marketplace)
    for caught in errors:
        assert caught.error_type == "http_error"
        assert caught.detail.startswith(f"Oxylabs answered HTTP {status}")
        assert not isinstance(caught, RateLimited)


async def test_faults_are_scoped_to_their_key_and_count() -> None:
    fake = default_fake()
    fake.fail(OxylabsFault.server_error(503, times=1), key=ebay_key(QUERY, 1))
    async with running(fake) as marketplace:
        assert (await marketplace.search_sellers(QUERY, WINDOW, 2)).sellers
        with pytest.raises(UpstreamError):
            await marketplace.search_sellers(QUERY, WINDOW, 1)
        assert (await marketplace.search_sellers(QUERY, WINDOW, 1)).sellers
        assert await marketplace.bestsellers(NODE)
    assert fake.requests == {ebay_key(QUERY, 1): 2, ebay_key(QUERY, 2): 1, amazon_key(NODE): 1}


async def test_a_slow_answer_is_a_timeout_and_the_client_survives_it() -> None:
    fake = default_fake()
    release = asyncio.Event()
    stall = fake.fail(OxylabsFault.slow(release=release, times=2))
    async with running(fake, timeouts=OxylabsTimeouts(amazon_seconds=0.2, ebay_seconds=0.3)) as marketplace:
        amazon, ebay = await both_fail(marketplace)
        assert stall.arrived.is_set()
        release.set()
        # The stall is used up: the same shared client now gets answers again.
        assert len(await marketplace.bestsellers(NODE)) == 4
    assert amazon.error_type == "timeout"
    assert "0.2 s" in amazon.detail
    assert ebay.error_type == "timeout"


@pytest.mark.parametrize(
    ("how", "amazon_reason", "ebay_reason"),
    [
        ("invalid_json", "the body is not JSON", "the body is not JSON"),
        ("missing_results", "no `results` list", "no `results` list"),
        ("empty_results", "`results` is empty", "`results` is empty"),
        ("not_search_page", "results[0].content is not an object", "the HTML is an eBay block or captcha page"),
    ],
)
async def test_malformed_answers_are_parse_errors(how: Malformed, amazon_reason: str, ebay_reason: str) -> None:
    fake = default_fake()
    fake.fail(OxylabsFault.malformed(how))
    async with running(fake) as marketplace:
        amazon, ebay = await both_fail(marketplace)
    assert (amazon.error_type, amazon.detail) == ("parse_error", f"malformed response: {amazon_reason}")
    assert (ebay.error_type, ebay.detail) == ("parse_error", f"malformed response: {ebay_reason}")


async def test_wrong_credentials_give_a_clear_error_without_the_secret() -> None:
    fake = default_fake()
    async with running(fake, password="not-the-password") as marketplace:
        with pytest.raises(UpstreamError) as caught:
            await marketplace.bestsellers(NODE)
    assert caught.value.error_type == "http_error"
    assert caught.value.detail.startswith("Oxylabs answered HTTP 401")
    assert "OXYLABS_USERNAME" in caught.value.detail
    assert "not-the-password" not in caught.value.detail
    assert fake.unauthorized == 1
    assert fake.requests == {}


async def test_an_unreachable_server_is_a_network_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on that port any more, so the connection is refused.
    marketplace = OxylabsMarketplace(settings_for(f"http://127.0.0.1:{port}"), timeouts=FAST)
    try:
        with pytest.raises(UpstreamError) as caught:
            await marketplace.bestsellers(NODE)
    finally:
        await marketplace.aclose()
    assert caught.value.error_type == "network"


async def test_one_client_serves_concurrent_calls() -> None:
    fake = default_fake()
    async with running(fake) as marketplace:
        pages = await asyncio.gather(*(marketplace.search_sellers(QUERY, WINDOW, 1) for _ in range(20)))
        products = await asyncio.gather(*(marketplace.bestsellers(NODE) for _ in range(20)))
    assert all(page == pages[0] for page in pages)
    assert all(listing == products[0] for listing in products)
    assert fake.requests == {ebay_key(QUERY, 1): 20, amazon_key(NODE): 20}


def test_ebay_search_url() -> None:
    url = ebay_search_url("Café & Crème 2-pack", PriceWindow(Decimal("9"), Decimal("1234.5")), 3)
    assert url == (
        "https://www.ebay.com/sch/i.html?_nkw=Caf%C3%A9+%26+Cr%C3%A8me+2-pack&LH_ItemCondition=1000&LH_Free=1"
        "&LH_PrefLoc=1&_udlo=9.00&_udhi=1234.50&_ipg=60&_pgn=3&_dmd=1"
    )
    with pytest.raises(ValueError):
        ebay_search_url("x", WINDOW, 0)


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30", now=now) == 30.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:45 GMT", now=now) == 45.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    for garbled in (None, "", "-5", "nan", "inf", "tomorrow"):
        assert parse_retry_after(garbled, now=now) is None


async def test_factory_picks_the_provider() -> None:
    demo = build_marketplace(Settings(provider="demo"))
    assert isinstance(demo, DemoMarketplace)
    oxylabs: Marketplace = build_marketplace(settings_for("http://127.0.0.1:9"))
    assert isinstance(oxylabs, OxylabsMarketplace) and oxylabs.name == "oxylabs"
    await oxylabs.aclose()
    auto = build_marketplace(Settings(provider="auto", oxylabs_username=None, oxylabs_password=None))
    assert isinstance(auto, DemoMarketplace)


def test_factory_refuses_oxylabs_without_credentials() -> None:
    with pytest.raises(InvalidInput) as caught:
        build_marketplace(Settings(provider="oxylabs", oxylabs_username="someone", oxylabs_password=None))
    assert "OXYLABS_PASSWORD" in caught.value.detail
