from __future__ import annotations

import asyncio
import json
from collections import Counter
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest

from app.config import Settings
from app.errors import RateLimited, UpstreamError
from app.scrapers.base import Marketplace, PriceWindow
from app.scrapers.demo import VOCABULARIES, DemoMarketplace

WINDOW = PriceWindow(low=Decimal("36.00"), high=Decimal("44.00"))


def demo(**overrides: Any) -> DemoMarketplace:
    values: dict[str, Any] = {"provider": "demo", "demo_latency_ms": 0, "demo_seed": 7}
    values.update(overrides)
    return DemoMarketplace(Settings(**values))


def category_node_ids() -> list[str]:
    data = json.loads(resources.files("app").joinpath("data/amazon_categories.json").read_text(encoding="utf-8"))
    return [category["node_id"] for department in data["departments"] for category in department["categories"]]


QUERIES = [f"Brand Adjective Product {n}" for n in range(60)]


def test_is_a_marketplace() -> None:
    marketplace: Marketplace = demo()
    assert marketplace.name == "demo"


async def test_bestsellers_are_deterministic_per_seed_and_node() -> None:
    first, again, other_seed = demo(), demo(), demo(demo_seed=8)
    assert await first.bestsellers("289935") == await again.bestsellers("289935")
    assert await first.bestsellers("289935") == await first.bestsellers("289935")
    assert await first.bestsellers("289935") != await other_seed.bestsellers("289935")
    assert await first.bestsellers("289935") != await first.bestsellers("3741261")


@pytest.mark.parametrize("node_id", ["289935", "12896161", "172282", "not-a-known-node"])
async def test_bestsellers_look_like_a_best_seller_page(node_id: str) -> None:
    products = await demo().bestsellers(node_id)
    assert 30 <= len(products) <= 50
    assert [p.position for p in products] == list(range(1, len(products) + 1))
    assert len({p.asin for p in products}) == len(products)
    for product in products:
        assert len(product.asin) == 10 and product.asin.startswith("B0") and product.asin.isalnum()
        assert len(product.title.split()) >= 3
        assert product.currency == "USD"
        assert product.url == f"https://www.amazon.com/dp/{product.asin}"
        assert product.rating is not None and 1 <= product.rating <= 5
        if product.price is not None:
            assert isinstance(product.price, Decimal)
            assert Decimal(5) <= product.price <= Decimal(150)
    assert sum(p.price is not None for p in products) >= len(products) * 0.8


async def test_titles_fit_the_department() -> None:
    marketplace = demo()
    data = json.loads(resources.files("app").joinpath("data/amazon_categories.json").read_text(encoding="utf-8"))
    for department in data["departments"]:
        brands = VOCABULARIES[department["id"]].brands
        for category in department["categories"]:
            products = await marketplace.bestsellers(category["node_id"])
            # Cross-listed best sellers may come from elsewhere; the category's own products fit it.
            fitting = [p for p in products if p.title.startswith(brands)]
            assert len(fitting) >= len(products) * 0.7, (department["id"], [p.title for p in products])


async def test_about_a_tenth_of_asins_are_shared_across_categories() -> None:
    marketplace = demo()
    lists = {node: await marketplace.bestsellers(node) for node in category_node_ids()}
    seen_in: Counter[str] = Counter()
    for products in lists.values():
        seen_in.update({p.asin for p in products})
    shared = {asin for asin, count in seen_in.items() if count > 1}
    assert shared
    total = sum(len(products) for products in lists.values())
    shared_rows = sum(p.asin in shared for products in lists.values() for p in products)
    assert 0.05 <= shared_rows / total <= 0.15
    # A shared product is the same product wherever it is listed.
    by_asin: dict[str, tuple[str, Decimal | None]] = {}
    for products in lists.values():
        for p in products:
            if p.asin in shared:
                assert by_asin.setdefault(p.asin, (p.title, p.price)) == (p.title, p.price)


async def test_search_is_deterministic_per_query_and_page() -> None:
    first, again = demo(), demo()
    for query in QUERIES[:10]:
        for page in (1, 2, 3):
            assert await first.search_sellers(query, WINDOW, page) == await again.search_sellers(query, WINDOW, page)


async def test_search_pages_have_up_to_eight_distinct_sellers_and_a_query_dependent_length() -> None:
    marketplace = demo()
    lengths = set()
    for query in QUERIES:
        page = 1
        while True:
            result = await marketplace.search_sellers(query, WINDOW, page)
            assert 0 <= len(result.sellers) <= 8
            assert len({s.username for s in result.sellers}) == len(result.sellers)
            assert "_nkw=" in result.url and f"_pgn={page}" in result.url and "_udlo=36.00" in result.url
            for seller in result.sellers:
                assert seller.item_url is not None and seller.item_url.startswith("https://www.ebay.com/itm/")
                assert seller.feedback_count is not None and seller.feedback_count >= 0
                assert seller.feedback_percent is not None and Decimal(90) <= seller.feedback_percent <= 100
            if not result.has_more:
                break
            page += 1
        lengths.add(page)
        beyond = await marketplace.search_sellers(query, WINDOW, page + 1)
        assert (beyond.sellers, beyond.has_more) == ([], False)
    assert len(lengths) > 1


async def test_sellers_come_from_a_shared_pool() -> None:
    marketplace = demo()
    queries_per_seller: dict[str, set[str]] = {}
    appearances = 0
    for query in QUERIES:
        for page in (1, 2):
            for seller in (await marketplace.search_sellers(query, WINDOW, page)).sellers:
                queries_per_seller.setdefault(seller.username, set()).add(query)
                appearances += 1
    assert appearances > 100
    assert any(len(queries) >= 3 for queries in queries_per_seller.values())
    assert len(queries_per_seller) < appearances


async def test_a_seller_looks_the_same_wherever_it_appears() -> None:
    marketplace = demo()
    stats: dict[str, tuple[int | None, Decimal | None]] = {}
    for query in QUERIES:
        for seller in (await marketplace.search_sellers(query, WINDOW, 1)).sellers:
            assert stats.setdefault(seller.username, (seller.feedback_count, seller.feedback_percent)) == (
                seller.feedback_count,
                seller.feedback_percent,
            )


@pytest.mark.parametrize(
    "window",
    [
        PriceWindow(low=Decimal("40.00"), high=Decimal("40.00")),
        PriceWindow(low=Decimal("50.00"), high=Decimal("40.00")),
        PriceWindow(low=Decimal("-1.00"), high=Decimal("40.00")),
    ],
)
async def test_an_impossible_window_finds_nobody(window: PriceWindow) -> None:
    marketplace = demo(demo_error_rate=1.0)  # and costs no upstream call, so it cannot fail either
    for query in QUERIES[:10]:
        result = await marketplace.search_sellers(query, window, 1)
        assert (result.sellers, result.has_more) == ([], False)


async def test_failure_rates_are_roughly_honoured_and_reproducible() -> None:
    async def outcomes(marketplace: DemoMarketplace) -> list[str]:
        results = []
        for n in range(2000):
            try:
                if n % 2:
                    await marketplace.bestsellers(str(n % 40))
                else:
                    await marketplace.search_sellers(QUERIES[n % len(QUERIES)], WINDOW, 1)
            except RateLimited as exc:
                assert exc.retry_after == 2.5
                assert exc.error_type == "rate_limit"
                results.append("429")
            except UpstreamError as exc:
                assert exc.error_type == "http_error"
                results.append("error")
            else:
                results.append("ok")
        return results

    settings = {"demo_error_rate": 0.2, "demo_rate_limit_rate": 0.1, "demo_retry_after_seconds": 2.5}
    first = await outcomes(demo(**settings))
    counts = Counter(first)
    assert 0.16 <= counts["error"] / 2000 <= 0.24
    assert 0.07 <= counts["429"] / 2000 <= 0.13
    assert await outcomes(demo(**settings)) == first


async def test_no_failures_by_default() -> None:
    marketplace = demo()
    lists = [await marketplace.bestsellers(str(n)) for n in range(200)]
    pages = [await marketplace.search_sellers(QUERIES[n % len(QUERIES)], WINDOW, 1) for n in range(200)]
    assert all(products for products in lists)
    assert sum(len(page.sellers) for page in pages) > 0


async def test_latency_is_simulated() -> None:
    marketplace = demo(demo_latency_ms=50)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await marketplace.bestsellers("289935")
    await marketplace.search_sellers(QUERIES[0], WINDOW, 1)
    assert loop.time() - started >= 0.09
    await marketplace.aclose()


async def test_sellers_have_kinds_that_show_in_their_listings() -> None:
    from statistics import median

    from app.scrapers.demo import seller_kinds
    from app.services.sellers.title_match import title_match

    marketplace = demo()
    kinds = seller_kinds(7)
    assert set(kinds.values()) == {"dropshipper", "established", "occasional"} and kinds == seller_kinds(7)
    matches: dict[str, list[float]] = {"dropshipper": [], "established": [], "occasional": []}
    feedback: dict[str, list[int]] = {"dropshipper": [], "established": [], "occasional": []}
    for query in QUERIES:
        for listing in (await marketplace.search_sellers(query, WINDOW, 1)).listings:
            assert listing.seller is not None and listing.price is not None
            kind = kinds[listing.seller.username]
            assert marketplace.seller_kind(listing.seller.username) == kind
            assert WINDOW.low <= listing.price <= WINDOW.high and listing.currency == "USD"
            matches[kind].append(title_match(listing.title, query))
            feedback[kind].append(listing.seller.feedback_count or 0)
    # Dropshippers copy titles, stores reword them, occasional sellers list something else (mostly).
    assert median(matches["dropshipper"]) >= 0.95 > median(matches["established"]) > median(matches["occasional"])
    assert median(feedback["established"]) > 10 * median(feedback["dropshipper"]) > 10 * median(feedback["occasional"])
