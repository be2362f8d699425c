"""The parser against real eBay pages saved in public repositories (see tests/fixtures/ebay_pages/SOURCES.md).

The expected sellers in `expected.json` were read from the raw HTML independently of the parser, so
each list page checks every seller line a person can read there, with its exact feedback figures.
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from app.scrapers.ebay_html import parse_search_html

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "ebay_pages"


@cache
def expected() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAGES / "expected.json").read_text(encoding="utf-8"))
    return data


def page(name: str) -> str:
    return gzip.decompress((PAGES / f"{name}.html.gz").read_bytes()).decode("utf-8", errors="replace")


def names_of(kind: str) -> list[str]:
    return sorted(name for name, entry in expected().items() if entry["kind"] == kind)


def test_the_fixtures_cover_every_layout_from_enough_sources() -> None:
    sources = (PAGES / "SOURCES.md").read_text(encoding="utf-8")
    rows = [line.split("|") for line in sources.splitlines() if line.startswith("| `")]
    assert {row[1].strip().strip("`").removesuffix(".html.gz") for row in rows} == set(expected())
    assert len(rows) >= 10
    assert len({row[2].strip() for row in rows}) >= 5
    kinds = {entry["kind"] for entry in expected().values()}
    assert {"list", "gallery", "blocked", "item"} <= kinds
    layouts = {name.split("_")[1] for name in names_of("list")}
    assert {"card", "item"} <= layouts
    assert {"list_item_seller_info_switch", "list_item_etrs_bmw_parts", "list_card_badges_keyboard"} <= set(expected())


@pytest.mark.parametrize("name", names_of("list"))
def test_list_pages_yield_every_seller_with_exact_feedback(name: str) -> None:
    parsed = parse_search_html(page(name))
    assert parsed.kind == "list"
    got = [[s.username, s.feedback_count, str(s.feedback_percent)] for s in parsed.sellers]
    assert got == expected()[name]["sellers"]
    assert all(s.item_url is not None and "/itm/" in s.item_url and "?" not in s.item_url for s in parsed.sellers)
    assert parsed.layout_understood is bool(parsed.sellers)


@pytest.mark.parametrize("name", names_of("gallery"))
def test_gallery_pages_are_reported_as_gallery(name: str) -> None:
    parsed = parse_search_html(page(name))
    assert (parsed.kind, parsed.sellers, parsed.is_search_page) == ("gallery", [], True)
    assert parsed.listings > 0
    assert parsed.layout_understood is False
    assert "gallery" in parsed.describe()


@pytest.mark.parametrize(
    ("name", "kind"),
    [(n, "blocked") for n in names_of("blocked")]
    + [(n, "item") for n in names_of("item")]
    + [(n, "other") for n in names_of("other")],
)
def test_non_search_pages_are_reported_as_such(name: str, kind: str) -> None:
    parsed = parse_search_html(page(name))
    assert (parsed.kind, parsed.sellers, parsed.has_more, parsed.is_search_page) == (kind, [], False, False)
    assert parsed.layout_understood is False


def test_a_page_of_listings_without_seller_lines_is_not_understood() -> None:
    parsed = parse_search_html(page("list_item_no_seller_line_uk"))
    assert (parsed.kind, parsed.sellers, parsed.listings) == ("list", [], 61)
    assert parsed.layout_understood is False
    assert "no seller line" in parsed.describe()


def test_etrs_layout_reads_name_and_feedback_spans() -> None:
    parsed = parse_search_html(page("list_item_etrs_bmw_parts"))
    first = parsed.sellers[0]
    assert (first.username, first.feedback_count, first.feedback_percent) == ("missing.parts", 9600, Decimal("100"))
    assert parsed.has_more is True


def test_top_rated_trust_lines_are_not_taken_for_sellers() -> None:
    # Here s-item__etrs-text holds only "Top Rated Seller"; the seller comes from s-item__seller-info-text.
    html = page("list_item_seller_info_switch")
    assert "s-item__etrs-text" in html
    parsed = parse_search_html(html)
    assert parsed.sellers[0].username == "gamesgalaxyconsett"
    assert (parsed.sellers[0].feedback_count, parsed.sellers[0].feedback_percent) == (1493, Decimal("100"))


def test_su_link_only_cards_keep_their_item_url() -> None:
    html = page("list_card_sulink_phone")
    assert "s-card__link" not in html
    parsed = parse_search_html(html)
    assert parsed.sellers[0].item_url is not None
    assert parsed.sellers[0].item_url.startswith("https://www.ebay.com/itm/")


def test_reading_stops_where_exact_matches_end() -> None:
    parsed = parse_search_html(page("list_card_fewer_words"))
    assert (parsed.listings, parsed.exact_matches_ended, parsed.has_more) == (1, True, False)
    assert [s.username for s in parsed.sellers] == ["customautoparts"]


def test_listing_prices_are_read_for_us_pages() -> None:
    parsed = parse_search_html(page("list_card_pokemon"))
    assert len(parsed.prices) == parsed.listings == 60
    assert all(price > 0 for price in parsed.prices)
