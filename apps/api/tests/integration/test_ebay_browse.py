"""The eBay Browse API provider against a fake Browse API + OAuth server on loopback."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.errors import InvalidInput, RateLimited, UpstreamError
from app.scrapers.base import PriceWindow
from app.scrapers.ebay_browse import EbayBrowseSearch, browse_filter, page_from_body
from app.scrapers.factory import build_marketplace
from app.scrapers.phased import PhasedMarketplace
from tests.fakes.fake_ebay_browse import SCOPE, SEARCH_PATH, TOKEN_PATH, BrowseFault, FakeEbayBrowse
from tests.fakes.fake_oxylabs import FakeSeller
from tests.fakes.faulty_upstream import serve_fake

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "ebay_browse"
WINDOW = PriceWindow(low=Decimal("18.00"), high=Decimal("22.00"))
QUERY = "OXO Good Grips 11-Inch Balloon Whisk"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings_for(base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ebay_client_id": "fake-app-id",
        "ebay_client_secret": "fake-cert-id",
        "ebay_base_url": base_url,
    }
    return Settings(**(values | overrides))


@asynccontextmanager
async def running(
    fake: FakeEbayBrowse, clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[EbayBrowseSearch]:
    async with serve_fake(fake) as base_url:
        provider = EbayBrowseSearch(settings_for(base_url, **overrides), clock=clock or Clock())
        try:
            yield provider
        finally:
            await provider.aclose()


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress((SAMPLES / name).read_bytes()))
    return data


async def test_a_search_sends_the_documented_request_and_reads_sellers() -> None:
    fake = FakeEbayBrowse(
        sellers_by_query={
            QUERY: [
                FakeSeller("whisk_world", 460, "99.1"),
                FakeSeller("kitchen-outlet", 15432, "98.7"),
                FakeSeller("Whisk_World", 12, "90.0"),
            ]
        }
    )
    async with running(fake) as provider:
        page = await provider.search_sellers(QUERY, WINDOW, 1)
    assert [(s.username, s.feedback_count, s.feedback_percent) for s in page.sellers] == [
        ("whisk_world", 460, Decimal("99.1")),
        ("kitchen-outlet", 15432, Decimal("98.7")),
    ]
    assert all(
        s.item_url and s.item_url.startswith("https://www.ebay.com/itm/") and "?" not in s.item_url
        for s in page.sellers
    )
    assert (page.has_more, page.listings_in_window) == (False, 3)
    assert fake.received == [
        {
            "q": QUERY,
            "filter": "conditions:{NEW},price:[18.00..22.00],priceCurrency:USD,deliveryCountry:US,"
            "itemLocationCountry:US,maxDeliveryCost:0",
            "limit": "200",
            "offset": "0",
        }
    ]
    assert fake.filter_violations == []
    assert "item_summary/search?q=" in page.url


def test_the_filter_string() -> None:
    assert browse_filter(PriceWindow(Decimal("9"), Decimal("1234.5"))) == (
        "conditions:{NEW},price:[9.00..1234.50],priceCurrency:USD,deliveryCountry:US,itemLocationCountry:US,"
        "maxDeliveryCost:0"
    )


async def test_pages_follow_offset_and_next() -> None:
    sellers = [FakeSeller(f"seller_{i:03d}") for i in range(250)]
    fake = FakeEbayBrowse(sellers_by_query={QUERY: sellers})
    async with running(fake) as provider:
        first = await provider.search_sellers(QUERY, WINDOW, 1)
        second = await provider.search_sellers(QUERY, WINDOW, 2)
    assert (len(first.sellers), first.has_more) == (200, True)
    assert (len(second.sellers), second.has_more) == (50, False)
    assert second.sellers[0].username == "seller_200"
    assert [q["offset"] for q in fake.received] == ["0", "200"]


async def test_no_match_has_no_item_summaries() -> None:
    fake = FakeEbayBrowse(sellers_by_query={QUERY: []})
    async with running(fake) as provider:
        page = await provider.search_sellers(QUERY, WINDOW, 1)
    assert (page.sellers, page.has_more, page.listings_in_window) == ([], False, 0)


async def test_the_token_is_minted_once_and_reused_until_five_minutes_before_expiry() -> None:
    clock = Clock()
    fake = FakeEbayBrowse(token_lifetime=7200, clock=clock)
    async with running(fake, clock) as provider:
        await asyncio.gather(*(provider.search_sellers(f"{QUERY} {i}", WINDOW, 1) for i in range(10)))
        assert (fake.mints, provider.token_mints) == (1, 1)
        clock.now += 7200 - 300 - 1
        await provider.search_sellers(QUERY, WINDOW, 1)
        assert fake.mints == 1
        clock.now += 2
        await provider.search_sellers(QUERY, WINDOW, 1)
        assert fake.mints == 2
    assert fake.unauthorized == 0


async def test_a_refused_token_is_replaced_on_the_next_call() -> None:
    fake = FakeEbayBrowse()
    fake.fail(BrowseFault.expired_token(times=1))
    async with running(fake) as provider:
        with pytest.raises(UpstreamError) as caught:
            await provider.search_sellers(QUERY, WINDOW, 1)
        page = await provider.search_sellers(QUERY, WINDOW, 1)
    assert caught.value.error_type == "http_error"
    assert "1001" in caught.value.detail
    assert page.sellers
    assert fake.mints == 2


async def test_429_with_retry_after_is_a_rate_limit_and_without_it_the_daily_quota() -> None:
    fake = FakeEbayBrowse()
    fake.fail(BrowseFault.rate_limited(retry_after="2", times=1))
    fake.fail(BrowseFault.quota(times=1))
    async with running(fake) as provider:
        with pytest.raises(RateLimited) as limited:
            await provider.search_sellers(QUERY, WINDOW, 1)
        with pytest.raises(UpstreamError) as quota:
            await provider.search_sellers(QUERY, WINDOW, 1)
    assert limited.value.retry_after == 2.0
    assert "2001" in limited.value.detail
    assert quota.value.error_type == "quota"
    assert "daily Browse API call limit" in quota.value.detail


async def test_server_errors_are_transient() -> None:
    fake = FakeEbayBrowse()
    fake.fail(BrowseFault.server_error(times=1))
    async with running(fake) as provider:
        with pytest.raises(UpstreamError) as caught:
            await provider.search_sellers(QUERY, WINDOW, 1)
    assert (caught.value.error_type, "12000" in caught.value.detail) == ("http_error", True)


async def test_wrong_credentials_are_a_clear_auth_error_without_the_secret() -> None:
    fake = FakeEbayBrowse()
    async with running(fake, ebay_client_secret="not-the-secret") as provider:
        with pytest.raises(UpstreamError) as caught:
            await provider.search_sellers(QUERY, WINDOW, 1)
    assert caught.value.error_type == "auth"
    assert "invalid_client" in caught.value.detail and "EBAY_CLIENT_SECRET" in caught.value.detail
    assert "not-the-secret" not in caught.value.detail
    assert fake.requests == {}


async def test_an_empty_price_window_costs_no_request() -> None:
    fake = FakeEbayBrowse()
    async with running(fake) as provider:
        page = await provider.search_sellers(QUERY, PriceWindow(Decimal("20"), Decimal("20")), 1)
    assert (page.sellers, fake.mints, fake.received) == ([], 0, [])


def test_recorded_live_answers_are_read() -> None:
    body = sample("browse_search_iphone_limit100_best_match.json.gz")
    page = page_from_body(body, PriceWindow(Decimal("100"), Decimal("200")), "u")
    usernames = [i["seller"]["username"] for i in body["itemSummaries"]]
    assert [s.username for s in page.sellers] == list(dict.fromkeys(usernames))
    first = page.sellers[0]
    assert (first.username, first.feedback_count, first.feedback_percent) == ("cocosprinkles", 31327, Decimal("99.9"))
    assert first.item_url == "https://www.ebay.com/itm/334691749565"
    assert page.has_more is True
    in_window = sum(
        1 for i in body["itemSummaries"] if Decimal("100") <= Decimal(i["price"]["value"]) <= Decimal("200")
    )
    assert page.listings_in_window == in_window > 0


def _shape(value: Any) -> Any:
    """The JSON type tree of a value (lists by the union of their elements' shapes)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        merged: dict[str, Any] = {}
        for item in value:
            shape = _shape(item)
            if isinstance(shape, dict):
                merged |= shape
            else:
                return [shape]
        return [merged]
    return type(value).__name__


def _conforms(fake: Any, real: Any, path: str = "") -> list[str]:
    if isinstance(fake, dict):
        if not isinstance(real, dict):
            return [path]
        return [
            p
            for key, sub in fake.items()
            for p in (_conforms(sub, real[key], f"{path}.{key}") if key in real else [f"{path}.{key} (absent)"])
        ]
    if isinstance(fake, list):
        return _conforms(fake[0], real[0], path + "[]") if isinstance(real, list) and fake and real else []
    return [] if fake == real else [f"{path}: {fake} vs {real}"]


async def test_the_fake_speaks_the_shape_of_recorded_live_answers() -> None:
    real: dict[str, Any] = {}
    for name in (
        "browse_search_iphone_limit100_best_match.json.gz",
        "browse_search_iphone_limit100_sort_price.json.gz",
    ):
        real = _shape(sample(name)) | real
    real["prev"] = "str"  # documented; the recorded first pages have none
    fake = FakeEbayBrowse(sellers_by_query={QUERY: [FakeSeller(f"s{i}") for i in range(5)]})
    async with serve_fake(fake) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        minted = await client.post(
            TOKEN_PATH,
            data={"grant_type": "client_credentials", "scope": SCOPE},
            auth=("fake-app-id", "fake-cert-id"),
        )
        answer = await client.get(
            SEARCH_PATH,
            params={"q": QUERY, "filter": browse_filter(WINDOW), "limit": "2", "offset": "2"},
            headers={"Authorization": f"Bearer {minted.json()['access_token']}"},
        )
    assert set(minted.json()) == {"access_token", "expires_in", "token_type"}
    body = answer.json()
    assert {"next", "prev", "itemSummaries"} <= set(body)
    assert _conforms(_shape(body), real) == []


def test_building_the_ebay_api_provider_needs_a_keyset() -> None:
    with pytest.raises(InvalidInput) as caught:
        build_marketplace(Settings(provider="demo", ebay_provider="ebay_api"))
    assert "EBAY_CLIENT_ID" in caught.value.detail


async def test_providers_are_chosen_per_phase() -> None:
    settings = Settings(
        provider="demo", ebay_provider="ebay_api", ebay_client_id="a", ebay_client_secret="b", demo_latency_ms=0
    )
    marketplace = build_marketplace(settings)
    try:
        assert isinstance(marketplace, PhasedMarketplace)
        assert (marketplace.name, settings.run_provider) == ("demo+ebay_api", "demo+ebay_api")
        assert isinstance(marketplace.ebay, EbayBrowseSearch)
    finally:
        await marketplace.aclose()
    same = Settings(provider="demo", ebay_provider="demo")
    assert same.run_provider == "demo"
    stored = same.model_copy(update={"provider": "oxylabs+ebay_api"})
    assert (stored.resolved_provider, stored.resolved_ebay_provider) == ("oxylabs", "ebay_api")
