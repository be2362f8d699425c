from __future__ import annotations

from decimal import Decimal

import pytest

from app.scrapers.base import EbaySeller
from app.scrapers.ebay_html import (
    PageLocale,
    clean_username,
    parse_feedback_count,
    parse_search_html,
    parse_search_page,
)
from app.scrapers.prices import COMMA_DECIMAL, POINT_DECIMAL, NumberFormat
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


def page(*items: str, pagination: str = "", lang: str = "", head: str = "") -> str:
    html = f'<html lang="{lang}">' if lang else "<html>"
    results = f'<ul class="srp-results srp-list clearfix">{"".join(items)}</ul>'
    return f"{html}<head>{head}</head><body>{results}{pagination}</body></html>"


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
    assert (parsed.kind, parsed.sellers, len(parsed.listings), parsed.layout_understood) == (kind, [], 2, False)


def test_an_empty_search_is_understood() -> None:
    parsed = parse_search_html(render_search_page("nothing here", [], gallery=True))
    assert (parsed.kind, parsed.listings, parsed.layout_understood) == ("gallery", (), True)


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
    assert (len(parsed.listings), parsed.prices) == (2, (Decimal("25.00"), Decimal("25.00")))


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


CANONICAL = '<link rel="canonical" href="https://www.{site}/sch/i.html?_nkw=x">'


@pytest.mark.parametrize(
    ("html", "language", "site"),
    [
        (page(card("a_seller"), lang="es-US", head=CANONICAL.format(site="ebay.com")), "es", "ebay.com"),
        (
            page(card("a_seller"), lang="de", head='<meta property="og:url" content="https://www.ebay.de/b/x">'),
            "de",
            "ebay.de",
        ),
        # Neither: the language defaults to English and the site comes from the listings' links.
        (page(card("a_seller").replace("www.ebay.com", "www.ebay.co.uk")), "en", "ebay.co.uk"),
    ],
)
def test_the_locale_comes_from_the_page(html: str, language: str, site: str) -> None:
    assert parse_search_html(html).locale == PageLocale(language, site)


def test_placeholders_outside_the_results_do_not_decide_the_site() -> None:
    # Every site's "Shop on eBay" placeholder links to ebay.com; the listings say ebay.de.
    placeholder = '<div class="s-clipped"><a href="https://ebay.com/itm/123456">Shop on eBay</a></div>'
    html = page(card("a_seller").replace("www.ebay.com", "www.ebay.de"), lang="de").replace(
        "<body>", f"<body>{placeholder}"
    )
    assert parse_search_html(html).locale.site == "ebay.de"


@pytest.mark.parametrize(
    ("locale", "figures", "prices"),
    [
        (PageLocale("en", "ebay.com"), POINT_DECIMAL, POINT_DECIMAL),
        (PageLocale("ja", "ebay.com"), POINT_DECIMAL, POINT_DECIMAL),
        # eBay.com in Spanish writes feedback as 96,7% but prices as USD1 234.50.
        (PageLocale("es", "ebay.com"), COMMA_DECIMAL, POINT_DECIMAL),
        (PageLocale("de", "ebay.de"), COMMA_DECIMAL, COMMA_DECIMAL),
        (PageLocale("fr", "ebay.fr"), COMMA_DECIMAL, COMMA_DECIMAL),
        (PageLocale("it", "ebay.it"), COMMA_DECIMAL, COMMA_DECIMAL),
        (PageLocale("pt", None), COMMA_DECIMAL, COMMA_DECIMAL),
        (PageLocale("en", "ebay.co.uk"), POINT_DECIMAL, POINT_DECIMAL),
    ],
)
def test_number_formats_follow_the_language_for_feedback_and_the_site_for_prices(
    locale: PageLocale, figures: NumberFormat, prices: NumberFormat
) -> None:
    assert (locale.figures, locale.prices) == (figures, prices)


# Each locale's rules for feedback figures, in the wording of that language's UI: the decimal mark,
# the thousands separators, and the abbreviations past a thousand.
@pytest.mark.parametrize(
    ("lang", "feedback", "count", "percent"),
    [
        ("en", "99.5% positive (12,345)", 12345, "99.5"),
        ("en", "97.1% positive (154.8K)", 154800, "97.1"),
        ("en", "98% positive (3.5M)", 3500000, "98"),
        ("es", "97,6% positivo (2,9K)", 2900, "97.6"),
        ("es", "96,7% positivo (44)", 44, "96.7"),
        ("es", "99,1% positivo (1.234)", 1234, "99.1"),
        ("es", "99,1% positivo (1,3 mil)", 1300, "99.1"),
        ("de", "99,5% positiv (1,2 Tsd.)", 1200, "99.5"),
        ("de", "99,5% positiv (3,5 Mio.)", 3500000, "99.5"),
        ("de", "100% positiv (12.345)", 12345, "100"),
        ("fr", "99,5 % d'évaluations positives (12\u202f345)", 12345, "99.5"),
        ("fr", "99,5 % d'évaluations positives (1,2 k)", 1200, "99.5"),
        ("it", "99,5% di feedback positivi (1,2K)", 1200, "99.5"),
        ("it", "99,5% di feedback positivi (1.234)", 1234, "99.5"),
        ("pt", "99,5% positivo (2,1 mil)", 2100, "99.5"),
        ("pt", "99,5% positivo (1,5 mi)", 1500000, "99.5"),
        ("ja", "99.7% ポジティブ (3.5M)", 3500000, "99.7"),
        ("ja", "99.7% ポジティブ (1.2万)", 12000, "99.7"),
    ],
)
def test_feedback_is_read_as_the_page_language_writes_numbers(
    lang: str, feedback: str, count: int, percent: str
) -> None:
    sellers, _ = parse_search_page(page(card("some_seller", feedback), lang=lang))
    assert [(s.feedback_count, s.feedback_percent) for s in sellers] == [(count, Decimal(percent))]


def test_a_figure_in_another_locale_format_is_not_guessed() -> None:
    # On an English page "97,6%" is no percent eBay writes: the line is not read rather than misread.
    sellers, _ = parse_search_page(page(card("some_seller", "97,6% positive (2,9K)"), lang="en"))
    assert sellers == []


@pytest.mark.parametrize(
    ("text", "number_format", "count"),
    [
        ("1,3K", COMMA_DECIMAL, 1300),
        ("1,3K", POINT_DECIMAL, None),
        ("1.234", COMMA_DECIMAL, 1234),
        ("1,234", COMMA_DECIMAL, None),
        ("1.2345K", POINT_DECIMAL, None),
        ("12 345", COMMA_DECIMAL, 12345),
        ("3 Mrd.", COMMA_DECIMAL, None),
    ],
)
def test_parse_feedback_count_in_a_locale(text: str, number_format: NumberFormat, count: int | None) -> None:
    assert parse_feedback_count(text, number_format) == count


OLD_FORM_CARD = """
<li class="s-card" data-listingid="254654754368">
  <a class="su-link" href="https://www.ebay.com/itm/254654754368?_skw=x"><div class="s-card__title">
    <span class="su-styled-text primary default">HP EliteBook 840 G3</span></div></a>
  <div class="su-card-container__attributes__primary">
    <div class="s-card__attribute-row">
      <span class="su-styled-text primary bold large-1 s-card__price">$149.26</span></div>
    <div class="s-card__attribute-row"><span class="su-styled-text secondary large">List price: </span>
      <span class="su-styled-text secondary strikethrough large">$795.00</span>
      <span class="su-styled-text secondary bold large">81% off</span></div>
  </div>
  <div class="su-card-container__attributes__secondary">
    <div class="s-card__attribute-row">
      <span class="su-styled-text negative bold large">Save up to 5% when you buy more</span></div>
    <div class="s-card__attribute-row">
      <div class="s-card__program-badge-container s-card__program-badge-container--topRatedSeller">
      <span class="su-styled-text small">Top Rated Seller</span></div></div>
    <div class="s-card__attribute-row"><span class="su-styled-text secondary large">{line}</span></div>
  </div>
</li>
"""


@pytest.mark.parametrize(
    ("lang", "line", "count", "percent"),
    [
        ("en", "discountcomputerdepot (132,409) 98.7%", 132409, "98.7"),
        ("es", "discountcomputerdepot (1,3K) 98,7%", 1300, "98.7"),
        ("de", "discountcomputerdepot (132.409) 98,7%", 132409, "98.7"),
    ],
)
def test_the_older_wording_is_read_in_card_rows(lang: str, line: str, count: int, percent: str) -> None:
    parsed = parse_search_html(page(OLD_FORM_CARD.format(line=line), lang=lang))
    assert [(s.username, s.feedback_count, s.feedback_percent) for s in parsed.sellers] == [
        ("discountcomputerdepot", count, Decimal(percent))
    ]
    assert parsed.listings[0].price == Decimal("149.26")


def test_an_older_wording_needs_its_percent_outside_the_list_layouts_seller_slot() -> None:
    # "Pack (12)" in a card row is a quantity; "seller_uk (100)" in s-item__seller-info-text is a seller.
    parsed = parse_search_html(page(OLD_FORM_CARD.format(line="Pack (12)")))
    assert (parsed.sellers, parsed.listings_with_seller) == ([], 0)


BADGE_WITH_TOOLTIP = """
<li class="s-card" data-listingid="227051876141">
  <a class="su-link" href="https://www.ebay.com/itm/227051876141"><div class="s-card__title">
    <span class="su-styled-text primary default">Protein Bars</span></div></a>
  <div class="su-card-container__attributes__secondary"><div class="s-card__attribute-row">
    <div class="s-card__program-badge-container s-card__program-badge-container--sellerOrStoreInfo">
      <span><span class="tooltip">
      <div class="su-program-badge s-card__program-badge tooltip__host"><span>{line}</span></div>
      <span class="tooltip__overlay" role="tooltip"><span class="tooltip__content"><b><span>Top Rated Plus</span></b>
        <ul><li><span>Sellers with highest buyer ratings</span></li><li><span>Returns, money back</span></li></ul>
        <a href="http://pages.ebay.com/trp/index.html">Learn More</a></span></span>
    </span></span></div></div></div>
</li>
"""


@pytest.mark.parametrize("line", ["on.xyz  99.8% positive (173.8K)", "on.xyz (173,800) 99.8%"])
def test_a_badge_tooltip_in_the_seller_row_is_left_out(line: str) -> None:
    sellers, _ = parse_search_page(page(BADGE_WITH_TOOLTIP.format(line=line)))
    assert [(s.username, s.feedback_count, s.feedback_percent) for s in sellers] == [
        ("on.xyz", 173800, Decimal("99.8"))
    ]


def test_prettified_html_with_newlines_inside_spans() -> None:
    prettified = (
        card("watch702", "99,7% positivo (10K)").replace("<span", "\n   <span").replace("</span>", "\n   </span>")
    )
    prettified = prettified.replace(">watch702 ", ">\n      watch702\n    ").replace(">99,7%", ">\n      99,7%")
    sellers, _ = parse_search_page(page(prettified, lang="es"))
    assert [(s.username, s.feedback_count, s.feedback_percent) for s in sellers] == [
        ("watch702", 10000, Decimal("99.7"))
    ]


def test_a_page_with_some_unreadable_listings_reports_its_coverage() -> None:
    unreadable = (
        card("x")
        .replace('<span class="su-styled-text primary large">x </span>', "")
        .replace("99.5% positive (1.2K)", "Top Rated Seller")
    )
    html = page(card("first_seller"), unreadable.replace("287379458210", "287379458211"), card("second_seller"))
    parsed = parse_search_html(html)
    assert (len(parsed.listings), parsed.listings_with_seller, parsed.layout_understood) == (3, 2, True)
    assert [s.username for s in parsed.sellers] == ["first_seller", "second_seller"]
    assert parsed.listings[1].seller is None


def listing_card(title_html: str, price_html: str, href: str = "https://www.ebay.com/itm/287379458210?_skw=x") -> str:
    return f"""
<li class="s-card" data-listingid="287379458210">
  <a class="su-link" href="{href}"><div class="s-card__title">{title_html}</div></a>
  <div class="s-card__attribute-row">{price_html}</div>
</li>"""


def price_span(text: str, extra: str = "") -> str:
    return f'<span class="su-styled-text primary bold large-1 s-card__price {extra}">{text}</span>'


@pytest.mark.parametrize(
    ("lang", "site", "prices", "amount", "currency"),
    [
        ("en", "ebay.com", [price_span("$5.00 to $9.00")], "5.00", "USD"),
        ("en", "ebay.com", [price_span("$529.00"), price_span(" to "), price_span("$639.00")], "529.00", "USD"),
        ("de", "ebay.de", [price_span("EUR 2,99 bis EUR 7,99")], "2.99", "EUR"),
        ("de", "ebay.de", [price_span("EUR 1.299,00")], "1299.00", "EUR"),
        ("ja", "ebay.com", [price_span("9,999 円 ～ 19,999 円")], "9999", "JPY"),
        ("ko", "ebay.com", [price_span("KRW9,999.99 ~ KRW19,999.99")], "9999.99", "KRW"),
        ("es", "ebay.com", [price_span("USD25.00 a USD75.00")], "25.00", "USD"),
        ("es", "ebay.com", [price_span("USD2\u00a0332.00")], "2332.00", "USD"),
        ("es", "ebay.com", [price_span("S/. 99.99")], "99.99", "PEN"),
        ("en", "ebay.co.uk", [price_span("£5.99")], "5.99", "GBP"),
        ("en", "ebay.com.sg", [price_span("S$ 120.00")], "120.00", "SGD"),
        # A sold listing strikes the earlier price; one shown only struck through is still its price.
        ("en", "ebay.com", [price_span("$30.00", "strikethrough"), price_span("$25.00")], "25.00", "USD"),
        ("en", "ebay.com", [price_span("$25.00", "strikethrough")], "25.00", "USD"),
    ],
)
def test_listing_prices_ranges_and_currencies(
    lang: str, site: str, prices: list[str], amount: str, currency: str
) -> None:
    html = page(listing_card("Widget", "".join(prices)), lang=lang, head=CANONICAL.format(site=site))
    listing = parse_search_html(html).listings[0]
    assert (listing.price, listing.currency) == (Decimal(amount), currency)


def test_an_unreadable_price_is_left_out() -> None:
    listing = parse_search_html(page(listing_card("Widget", price_span("See price")))).listings[0]
    assert (listing.price, listing.currency) == (None, None)


@pytest.mark.parametrize(
    "title_html",
    [
        '<span class="su-styled-text primary default">Keldeo EX 167/086</span>'
        '<span class="clipped">Opens in a new window or tab</span>',
        '<span class="su-styled-text primary default"><span class="s-card__new-listing">New Listing</span>'
        "Keldeo EX 167/086</span>",
        '<span class="su-styled-text primary default">Keldeo <b>EX</b> 167/086</span>',
    ],
)
def test_titles_are_read_without_helper_text(title_html: str) -> None:
    listing = parse_search_html(page(listing_card(title_html, price_span("$1.00")))).listings[0]
    assert listing.title == "Keldeo EX 167/086"


def test_item_ids_and_urls_of_the_2021_list_layout() -> None:
    item = """
<li class="s-item"><a class="s-item__link" href="https://www.ebay.co.uk/itm/Space-Marines-Lot/124250904497?hash=item1">
  <h3 class="s-item__title"><span class="LIGHT_HIGHLIGHT">New listing</span>Space Marines Lot</h3></a>
  <span class="s-item__price">£5.99 to £14.99</span></li>"""
    listing = parse_search_html(page(item)).listings[0]
    assert (listing.item_id, listing.url, listing.title) == (
        "124250904497",
        "https://www.ebay.co.uk/itm/124250904497",
        "Space Marines Lot",
    )
    assert (listing.price, listing.currency, listing.seller) == (Decimal("5.99"), "GBP", None)


def test_carousels_and_placeholders_outside_the_results_are_not_listings() -> None:
    carousel = (
        '<li class="srp-river-answer srp-river-answer--ITEMS_CAROUSEL_WITH_COLOR"><ul>'
        + card("carousel_seller").replace("<li", "<li data-x").replace("287379458210", "111111111111")
        + "</ul></li>"
    )
    html = page(card("result_seller"), carousel).replace(
        "<body>", f'<body><div class="s-clipped">{card("ghost").replace("287379458210", "123456")}</div>'
    )
    parsed = parse_search_html(html)
    assert [listing.item_id for listing in parsed.listings] == ["287379458210"]
    assert [s.username for s in parsed.sellers] == ["result_seller"]


def test_a_separator_for_international_sellers_also_ends_the_results() -> None:
    separator = (
        '<li class="srp-river-answer srp-river-answer--REWRITE_START"><div class="section-notice">'
        "<span>243 items found from eBay international sellers</span></div></li>"
    )
    parsed = parse_search_html(page(card("local_seller"), separator, card("abroad").replace("287379458210", "2")))
    assert ([s.username for s in parsed.sellers], len(parsed.listings), parsed.exact_matches_ended) == (
        ["local_seller"],
        1,
        True,
    )
