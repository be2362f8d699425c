from __future__ import annotations

from decimal import Decimal

import pytest

from app.scrapers.base import EbaySeller
from app.scrapers.ebay_html import clean_username, parse_feedback_count, parse_search_html, parse_search_page
from tests.fakes.fake_oxylabs import FakeSeller, Layout, render_search_page, shown_feedback_count

# Shaped after live search pages: the seller row sits in the card's secondary attributes, as a name
# span followed by a feedback span (note the trailing space eBay leaves in the name span).
CARD = """
<li class="s-card s-card--horizontal" data-listingid="287379458210">
  <div class="su-card-container su-card-container--horizontal"><div class="su-card-container__content">
    <div class="su-card-container__header">
      <a class="su-link s-card__link" href="https://www.ebay.com/itm/287379458210?_skw=x&amp;hash=item42e9">
        <div role="heading" aria-level="3" class="s-card__title">
          <span class="su-styled-text primary default">Keldeo EX 167/086 Near Mint</span>
          <span class="clipped">Opens in a new window or tab</span></div></a></div>
    <div class="su-card-container__attributes">
      <div class="su-card-container__attributes__primary">
        <div class="s-card__attribute-row">
          <span class="su-styled-text positive bold large-1 s-card__price">$84.59</span></div>
        <div class="s-card__attribute-row"><span class="su-styled-text secondary large">Free delivery</span></div>
      </div>
      <div class="su-card-container__attributes__secondary">
        <div class="s-card__attribute-row"><span class="su-styled-text primary large">{name} </span>
          <span class="su-styled-text primary large">{feedback}</span></div></div>
    </div></div></div>
</li>
"""

BADGE_CARD = """
<li class="s-card" data-listingid="1">
  <a class="s-card__link" href="https://www.ebay.com/itm/111111111111?hash=x"><div class="s-card__title">
    <span class="su-styled-text primary default">Widget</span></div></a>
  <div class="su-card-container__attributes__secondary">
    <div class="s-card__program-badge-container s-card__program-badge-container--sellerOrStoreInfo">
      <span class="su-styled-text primary large">{text}</span></div></div>
</li>
"""

LIST_ITEM = """
<li class="s-item s-item__pl-on-bottom"><div class="s-item__info clearfix">
  <a class="s-item__link" href="https://www.ebay.com/itm/226789012345?hash=item42"><div class="s-item__title">
    <span role="heading" aria-level="3">{title}</span></div></a>
  <span class="s-item__price">$69.99</span>
  <span class="s-item__detail s-item__detail--secondary"><span class="s-item__seller-info">
    <span class="s-item__seller-info-text">{info}</span></span></span>
</div></li>
"""

NEXT_LINK = '<nav class="pagination"><a class="pagination__next icon-link" href="/sch/i.html?_nkw=x&_pgn=2"></a></nav>'


def page(*items: str, pagination: str = "") -> str:
    return f'<html><body><ul class="srp-results srp-list clearfix">{"".join(items)}</ul>{pagination}</body></html>'


def card(name: str, feedback: str = "99.5% positive (1.2K)") -> str:
    return CARD.format(name=name, feedback=feedback)


def test_card_layout_with_name_and_feedback_spans() -> None:
    sellers, has_more = parse_search_page(page(card("vozavu-live", "100% positive (159)")))
    assert sellers == [
        EbaySeller(
            username="vozavu-live",
            feedback_count=159,
            feedback_percent=Decimal("100"),
            item_url="https://www.ebay.com/itm/287379458210",
        )
    ]
    assert has_more is False


def test_card_layout_with_one_span_badge() -> None:
    sellers, _ = parse_search_page(page(BADGE_CARD.format(text="topseller_usa 99.5% positive (1.2K)")))
    assert sellers == [
        EbaySeller("topseller_usa", 1200, Decimal("99.5"), "https://www.ebay.com/itm/111111111111"),
    ]


@pytest.mark.parametrize(
    ("feedback", "count", "percent"),
    [
        ("99.5% positive (12,345)", 12345, Decimal("99.5")),
        ("99.3% positive (154.8K)", 154800, Decimal("99.3")),
        ("98% positive (3.5M)", 3500000, Decimal("98")),
        ("100% positive (0)", 0, Decimal("100")),
        ("97.1% Positive (19K)", 19000, Decimal("97.1")),
        ("99.9% positive", None, Decimal("99.9")),
    ],
)
def test_card_feedback_formats(feedback: str, count: int | None, percent: Decimal) -> None:
    sellers, _ = parse_search_page(page(card("some_seller", feedback)))
    assert [(s.feedback_count, s.feedback_percent) for s in sellers] == [(count, percent)]


def test_list_layout() -> None:
    html = page(
        LIST_ITEM.format(title="Phone case", info="cellularprofessor (18,554) 99%"),
        LIST_ITEM.format(title="Charger", info="nyrk2014 (5,500) 100%"),
        LIST_ITEM.format(title="Cable", info="seller_uk (100)"),
    )
    sellers, _ = parse_search_page(html)
    assert [(s.username, s.feedback_count, s.feedback_percent) for s in sellers] == [
        ("cellularprofessor", 18554, Decimal("99")),
        ("nyrk2014", 5500, Decimal("100")),
        ("seller_uk", 100, None),
    ]
    assert sellers[0].item_url == "https://www.ebay.com/itm/226789012345"


def test_placeholder_cards_are_skipped_in_both_layouts() -> None:
    shop_card = CARD.format(name="ghost_seller", feedback="99% positive (5)").replace(
        "Keldeo EX 167/086 Near Mint", "Shop on eBay"
    )
    shop_item = LIST_ITEM.format(title="Shop on eBay", info="ghost_item (5) 99%")
    sellers, _ = parse_search_page(page(shop_card, shop_item, card("real_seller")))
    assert [s.username for s in sellers] == ["real_seller"]


def test_sellers_are_deduped_keeping_the_first_listing() -> None:
    first = card("Repeat_Seller", "99.1% positive (10)")
    second = card("repeat_seller", "99.9% positive (99)").replace("287379458210", "999999999999")
    other = LIST_ITEM.format(title="x", info="repeat_seller (5) 90%")
    sellers, _ = parse_search_page(page(first, card("another1"), second, other))
    assert [(s.username, s.feedback_count) for s in sellers] == [("Repeat_Seller", 10), ("another1", 1200)]
    assert sellers[0].item_url == "https://www.ebay.com/itm/287379458210"


@pytest.mark.parametrize("name", ["$84.59", "watchlist", "Sponsored", "99.5", "a", "bad&lt;name&gt;", "x" * 65])
def test_junk_names_are_dropped(name: str) -> None:
    sellers, _ = parse_search_page(page(card(name), card("good_seller")))
    assert [s.username for s in sellers] == ["good_seller"]


def test_rows_without_a_feedback_marker_are_not_sellers() -> None:
    # Coupon and shipping lines share the attribute-row class with the seller line.
    coupon = CARD.replace(
        '<span class="su-styled-text primary large">{name} </span>\n'
        '          <span class="su-styled-text primary large">{feedback}</span>',
        '<span class="su-styled-text primary large">SAVEMORE20</span>',
    )
    no_seller_item = '<li class="s-item"><span class="s-item__price">$5.00</span></li>'
    sellers, _ = parse_search_page(page(coupon, no_seller_item, card("kept_seller")))
    assert [s.username for s in sellers] == ["kept_seller"]


def test_a_name_before_the_percent_in_one_span_wins_over_earlier_spans() -> None:
    html = page(BADGE_CARD.format(text="Top Rated Plus bigstore 99.2% positive (2K)"))
    sellers, _ = parse_search_page(html)
    assert [(s.username, s.feedback_count) for s in sellers] == [("bigstore", 2000)]


@pytest.mark.parametrize(
    ("pagination", "expected"),
    [
        (NEXT_LINK, True),
        ('<a class="pagination__next" href="https://www.ebay.com/sch/i.html?_pgn=3">next</a>', True),
        ('<button class="pagination__next icon-btn" aria-disabled="true"></button>', False),
        ('<a class="pagination__next icon-link" aria-disabled="true" href="/sch/i.html?_pgn=2"></a>', False),
        ('<a class="pagination__next icon-link" href="#"></a>', False),
        ('<a class="pagination__next icon-link"></a>', False),
        ("", False),
    ],
)
def test_has_more_needs_a_live_next_link(pagination: str, expected: bool) -> None:
    _, has_more = parse_search_page(page(card("someone"), pagination=pagination))
    assert has_more is expected


def test_results_matching_fewer_words_are_not_read() -> None:
    separator = (
        '<li class="srp-river-answer srp-river-answer--REWRITE_START"><div class="section-notice">'
        "<span>Results matching fewer words</span></div></li>"
    )
    html = page(card("exact_match"), separator, card("loose_match"), pagination=NEXT_LINK)
    sellers, has_more = parse_search_page(html)
    assert [s.username for s in sellers] == ["exact_match"]
    assert has_more is False


def test_block_pages_and_empty_searches_are_told_apart() -> None:
    blocked = parse_search_html("<html><body><h1>Pardon Our Interruption</h1></body></html>")
    assert (blocked.sellers, blocked.has_more, blocked.is_search_page) == ([], False, False)
    empty = parse_search_html(render_search_page("nothing here", []))
    assert (empty.sellers, empty.has_more, empty.is_search_page) == ([], False, True)
    assert parse_search_html("").is_search_page is False


@pytest.mark.parametrize("layout", ["card", "list", "etrs"])
def test_reads_the_fake_servers_pages(layout: Layout) -> None:
    sellers = [
        FakeSeller("alpha_store", 460, "99.1"),
        FakeSeller("beta-deals", 15432, "98.7", top_rated=True),
        FakeSeller("gamma.shop", 2_345_678, "100"),
    ]
    html = render_search_page(
        "usb cable", sellers, next_url="https://www.ebay.com/sch/i.html?_nkw=usb+cable&_pgn=2", layout=layout
    )
    parsed, has_more = parse_search_page(html)
    assert [(s.username, s.feedback_count, s.feedback_percent) for s in parsed] == [
        (f.username, shown_feedback_count(f.feedback_count, layout), Decimal(f.feedback_percent)) for f in sellers
    ]
    assert all(s.item_url and s.item_url.startswith("https://www.ebay.com/itm/") for s in parsed)
    assert has_more is True


@pytest.mark.parametrize(
    ("text", "count"),
    [("12,345", 12345), ("1.2K", 1200), ("154.8k", 154800), ("3.5M", 3500000), ("7", 7), ("", None), ("abc", None)],
)
def test_parse_feedback_count(text: str, count: int | None) -> None:
    assert parse_feedback_count(text) == count


def test_clean_username() -> None:
    assert clean_username(" seller.name_1-2* ") == "seller.name_1-2*"
    assert clean_username("two words") is None
    assert clean_username("SignIn") is None
    assert clean_username("12345") is None


@pytest.mark.parametrize(("gallery", "layout", "kind"), [(True, "card", "gallery"), (False, "unknown", "list")])
def test_pages_without_readable_seller_lines_are_not_understood(gallery: bool, layout: Layout, kind: str) -> None:
    sellers = [FakeSeller("alpha_store"), FakeSeller("beta")]
    html = render_search_page("usb cable", sellers, layout=layout, gallery=gallery)
    parsed = parse_search_html(html)
    assert (parsed.kind, parsed.sellers, parsed.listings, parsed.layout_understood) == (kind, [], 2, False)


def test_an_empty_search_is_understood() -> None:
    parsed = parse_search_html(render_search_page("nothing here", [], gallery=True))
    assert (parsed.kind, parsed.listings, parsed.layout_understood) == ("gallery", 0, True)


ETRS_ITEM = """
<li class="s-item"><a class="s-item__link" href="https://www.ebay.com/itm/1234567890?x=1">
  <div class="s-item__title"><span>Brake pads</span></div></a><span class="s-item__price">$25.00 to $31.50</span>
  <span class="s-item__etrs"><span class="s-item__etrs-text">{etrs}</span></span>
</li>
"""


def test_etrs_trust_line_with_name_and_feedback_or_only_a_badge() -> None:
    spans = '<span class="PRIMARY">missing.parts </span><span class="PRIMARY">100% positive (9.6K)</span>'
    named = ETRS_ITEM.format(etrs=spans)
    badge_only = ETRS_ITEM.format(etrs="Top Rated Seller").replace("1234567890", "1234567891")
    parsed = parse_search_html(page(named, badge_only))
    assert parsed.sellers == [EbaySeller("missing.parts", 9600, Decimal("100"), "https://www.ebay.com/itm/1234567890")]
    assert (parsed.listings, parsed.prices) == (2, (Decimal("25.00"), Decimal("25.00")))


def test_a_coupon_with_a_percent_is_not_a_seller() -> None:
    coupon = (
        card("someone")
        .replace('<span class="su-styled-text primary large">someone </span>', "")
        .replace("99.5% positive (1.2K)", "Extra 20% off (max $5)")
    )
    assert parse_search_html(page(coupon)).sellers == []


def test_localised_feedback_words_are_read() -> None:
    sellers, _ = parse_search_page(page(card("collectorschoicemusic", "99.7% ポジティブ (3.5M)")))
    assert [(s.username, s.feedback_count, s.feedback_percent) for s in sellers] == [
        ("collectorschoicemusic", 3_500_000, Decimal("99.7"))
    ]
