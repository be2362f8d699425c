"""Listings and sellers from an eBay search-results page, read with a real HTML parser.

eBay has served three list layouts since 2021, sometimes to the same client:

- cards (since mid 2025): `li.s-card`; the seller line is an `.s-card__attribute-row`, either two
  spans ("name", "99.5% positive (1.2K)"), one span for Top Rated sellers inside
  `.s-card__program-badge-container--sellerOrStoreInfo` ("name 99.5% positive (1.2K)", beside a
  tooltip), or in the older wording "name (132,409) 98.7%" (July 2025, and carousel cards);
- list with seller info (to mid 2025): `li.s-item` with `span.s-item__seller-info-text` reading
  "name (12,345) 99.5%";
- list with a trust line (mid 2025): `li.s-item` whose `span.s-item__etrs-text` holds two
  `span.PRIMARY` ("name", "100% positive (9.6K)"), or on other listings only "Top Rated Seller".

Both wordings are read in every layout, in the page's own number format: an eBay.com page in
Spanish writes "96,7% positivo (1,3K)". The format comes from the page (`PageLocale`): feedback
figures follow the UI language of `<html lang>`, prices follow the site (ebay.de writes
"EUR 17,72" whatever the language), so no number is guessed at on its own.

Gallery view (`ul.srp-results.srp-grid`) shows no seller line at all, which is why every search
URL asks for list view; a gallery page is reported as such so the caller can ask again. Its
listings are still read (title, price, item id).

The results are the `li` children of `ul.srp-results`: carousels of other items sit inside
`li.srp-river-answer` blocks, and "Shop on eBay" placeholders in hidden blocks outside the list.
An `li.srp-river-answer--REWRITE_START` separator ends the results that match the search as
asked ("Results matching fewer words", or "items found from eBay international sellers"), so
reading stops there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from app.scrapers.base import EbayListing, EbaySeller
from app.scrapers.prices import COMMA_DECIMAL, POINT_DECIMAL, Money, NumberFormat, parse_money, parse_number

PageKind = Literal["list", "gallery", "item", "blocked", "other"]

_RESULTS = "ul.srp-results > li.s-card, ul.srp-results > li.s-item, ul.srp-results > li.srp-river-answer--REWRITE_START"
# Without a results list (an unusual page), any listing on the page, as the parser read before.
_ANY_RESULTS = "li.s-card, li.s-item, li.srp-river-answer--REWRITE_START"
_SEPARATOR = ".srp-river-answer--REWRITE_START"
_ITEM_LINKS = 'a[href*="/itm/"]'
# The "Shop on eBay" placeholders outside the results link to ebay.com whatever the site.
_RESULT_LINKS = 'ul.srp-results a[href*="/itm/"]'
# Helper text inside titles, for screen readers or as a badge: not part of the listing's title.
_TITLE_HELPERS = (
    ".s-card__title .clipped, .s-card__title .s-card__new-listing, "
    ".s-item__title .clipped, .s-item__title .LIGHT_HIGHLIGHT"
)
# Tooltips share the seller's badge row ("Top Rated Plus ... Learn More") and would run into its text.
_TOOLTIPS = ".tooltip__overlay"
# Any of these means the document is a search page, even one with no listings at all.
_SEARCH_PAGE_MARKERS = (
    "ul.srp-results, .srp-river-results, #srp-river-results, .srp-controls__count-heading, "
    ".srp-save-null-search, li.s-card, li.s-item"
)
_GALLERY = "ul.srp-results.srp-grid"
# Item pages name themselves in their canonical link and Open Graph type.
_ITEM_PAGE_MARKERS = 'link[rel="canonical"][href*="/itm/"], meta[property="og:type"][content="ebay-objects:item"]'
_BLOCK_TITLES = ("pardon our interruption", "security measure", "access denied", "robot check", "captcha")

# "99.5% positive (1.2K)", "96,7% positivo (1,3K)", "99,5 % d'évaluations positives (1,2 k)": a
# percent, a few words, then the count in parentheses or the end of the text. The words are checked
# afterwards, because coupon lines ("Extra 20% off (max $5)") share the rows.
_PERCENT_WORDS_COUNT = re.compile(r"(?P<percent>\d[\d.,]*)\s?%\s*(?P<words>[^\d()%]+?)\s*(?:\((?P<count>[^()]*)\)|$)")
# The older wording, "discountcomputerdepot (132,409) 98.7%": the whole text is the seller line, so
# a row that merely contains parentheses and a percent is not taken for one.
_NAME_COUNT_PERCENT = re.compile(r"(?P<name>\S+)\s*\((?P<count>[^()]*)\)\s*(?:(?P<percent>\d[\d.,]*)\s?%)?")
# Without a count, only the English word is trusted: "20% off" has words too.
_COUNTLESS_WORDS = frozenset({"positive"})
_MAX_FEEDBACK_WORDS = 4
# A count, maybe abbreviated the way the UI language does past a thousand.
_COUNT = re.compile(r"(?P<number>\d(?:[\d., ]*\d)?)\s*(?P<unit>[^\d\s]*)")
_COUNT_UNITS = {
    "": 1,
    "k": 1_000,  # en, es, it, fr ("1,2 k")
    "m": 1_000_000,
    "tsd.": 1_000,  # de
    "mio.": 1_000_000,
    "mil": 1_000,  # es, pt
    "mi": 1_000_000,  # pt
    "mln": 1_000_000,  # it, pl
    "千": 1_000,  # ja, zh
    "万": 10_000,
    "萬": 10_000,
    "천": 1_000,  # ko
    "만": 10_000,
}
# "$5.00 to $9.00", "EUR 2,99 bis EUR 7,99", "USD25.00 a USD75.00", "9,999 円 ～ 19,999 円": the
# listing's price is the low end, whatever word or tilde the language puts between the two.
_RANGE = re.compile(r"\s+(?:to|bis|a|à|al|-|–)\s+|\s*[~～]\s*")
# /itm/<id>, or /itm/<title-slug>/<id> in the 2021 list layout.
_ITEM_ID_IN_PATH = re.compile(r"/itm/(?:[^/]+/)?(\d{6,})(?:[/?#]|$)")
# www.ebay.com, www.ebay.co.uk, www.ebay.com.sg, www.ebay.de: the site, which writes the prices.
_EBAY_HOST = re.compile(r"(?:^|\.)(ebay\.(?:(?:com|co)\.[a-z]{2}|[a-z]{2,3}))$")
# eBay user IDs are letters, digits and . _ - * ; anything else in that position is page chrome.
_USERNAME = re.compile(r"[A-Za-z0-9._*\-]{2,64}")
_NOT_SELLERS = frozenset({"myebay", "savedsellers", "watchlist", "purchase-history", "signin", "sponsored"})

# Languages that write 99,5 and sites that print prices as 17,72; the rest use a decimal point.
_COMMA_LANGUAGES = frozenset({"de", "es", "fr", "it", "pt", "nl", "pl", "ru", "tr", "sv", "da", "nb", "fi", "cs"})
_COMMA_SITES = frozenset({"ebay.de", "ebay.at", "ebay.fr", "ebay.it", "ebay.es", "ebay.nl", "ebay.be", "ebay.pl"})


@dataclass(frozen=True)
class PageLocale:
    """What the page says about itself: its UI language and the eBay site it came from."""

    language: str  # primary subtag of `<html lang>`, "en" when absent
    site: str | None  # "ebay.com", "ebay.co.uk", "ebay.de", ... from its canonical URL or links

    @property
    def figures(self) -> NumberFormat:
        """How feedback figures are written: the UI language decides."""
        return COMMA_DECIMAL if self.language in _COMMA_LANGUAGES else POINT_DECIMAL

    @property
    def prices(self) -> NumberFormat:
        """How prices are written: the site decides (ebay.com in Spanish still prints USD1 234.50)."""
        if self.site is None:
            return self.figures
        return COMMA_DECIMAL if self.site in _COMMA_SITES else POINT_DECIMAL


@dataclass(frozen=True)
class SearchPageParse:
    sellers: list[EbaySeller]
    has_more: bool
    kind: PageKind
    # Every real listing read, in page order (placeholders and results after a separator excluded).
    listings: tuple[EbayListing, ...] = ()
    # The page ended its exact matches ("Results matching fewer words" followed).
    exact_matches_ended: bool = False
    locale: PageLocale = PageLocale("en", None)

    @property
    def listings_with_seller(self) -> int:
        return sum(1 for listing in self.listings if listing.seller is not None)

    @property
    def prices(self) -> tuple[Decimal, ...]:
        """Each US-dollar listing's price (the low end of a range); others cannot meet a dollar window."""
        return tuple(item.price for item in self.listings if item.price is not None and item.currency == "USD")

    @property
    def is_search_page(self) -> bool:
        """False for a block page, an item page or an error page: there was no result list at all."""
        return self.kind in ("list", "gallery")

    @property
    def layout_understood(self) -> bool:
        """False when listings were there but no seller line could be read from any of them."""
        return self.is_search_page and not (self.listings and not self.listings_with_seller)

    def describe(self) -> str:
        """What the page was, for an error message."""
        if self.kind == "gallery":
            return "a gallery-view search page (no seller lines)"
        if self.kind == "list":
            return f"a search page whose {len(self.listings)} listings carry no seller line this parser can read"
        return {
            "item": "an eBay item page, not search results",
            "blocked": "an eBay block or captcha page",
            "other": "not an eBay search results page",
        }[self.kind]


@dataclass(frozen=True)
class _Layout:
    title: str
    price: str
    seller_scopes: str  # where a seller line may sit
    seller_spans: str  # the text pieces of a seller line inside one scope


_CARD = _Layout(
    title=".s-card__title",
    price=".s-card__price",
    seller_scopes=".s-card__attribute-row, .s-card__program-badge-container--sellerOrStoreInfo",
    seller_spans="span.su-styled-text",
)
_LIST_ITEM = _Layout(
    title=".s-item__title",
    price=".s-item__price",
    seller_scopes=".s-item__seller-info-text, .s-item__etrs-text",
    seller_spans="span.PRIMARY",
)


def parse_search_page(html: str) -> tuple[list[EbaySeller], bool]:
    """The page's sellers (first listing wins, in page order) and whether a next page exists."""
    parsed = parse_search_html(html)
    return parsed.sellers, parsed.has_more


def parse_search_html(html: str) -> SearchPageParse:
    tree = LexborHTMLParser(html)
    kind = _page_kind(tree)
    locale = page_locale(tree)
    for helper in tree.css(f"{_TITLE_HELPERS}, {_TOOLTIPS}"):
        helper.decompose()
    listings: list[EbayListing] = []
    separator = False
    for item in tree.css(_RESULTS) or tree.css(_ANY_RESULTS):
        if item.css_matches(_SEPARATOR):
            separator = True
            break
        listing = _read_listing(item, locale)
        if listing is not None:
            listings.append(listing)
    return SearchPageParse(
        sellers=_first_listing_per_seller(listings),
        has_more=not separator and _has_next_page(tree),
        kind=kind,
        listings=tuple(listings),
        exact_matches_ended=separator,
        locale=locale,
    )


def page_locale(tree: LexborHTMLParser) -> PageLocale:
    """The page's UI language (`<html lang>`) and eBay site (canonical URL, og:url, else its listings' links)."""
    root = tree.css_first("html")
    lang = (root.attributes.get("lang") or "") if root is not None else ""
    language = lang.strip().split("-")[0].casefold() or "en"
    site = None
    for selector, attribute in (
        ('link[rel="canonical"]', "href"),
        ('meta[property="og:url"]', "content"),
        (_RESULT_LINKS, "href"),
    ):
        node = tree.css_first(selector)
        site = _ebay_site(node.attributes.get(attribute) if node is not None else None)
        if site is not None:
            break
    return PageLocale(language=language, site=site)


def parse_feedback_count(text: str, number_format: NumberFormat = POINT_DECIMAL) -> int | None:
    """'12,345' -> 12345, '1.2K' -> 1200, '1,3K' (comma locale) -> 1300, '1,2 Tsd.' -> 1200; None otherwise."""
    match = _COUNT.fullmatch(" ".join(text.split()))
    if match is None:
        return None
    multiplier = _COUNT_UNITS.get(match.group("unit").casefold())
    number = parse_number(match.group("number"), number_format)
    if multiplier is None or number is None:
        return None
    value = number * multiplier
    # "1.2345K" is no count eBay writes; a fraction left over means the format was misread.
    return int(value) if value == value.to_integral_value() else None


def parse_feedback_percent(text: str, number_format: NumberFormat = POINT_DECIMAL) -> Decimal | None:
    value = parse_number(text, number_format)
    return value if value is not None and 0 <= value <= 100 else None


def clean_username(text: str) -> str | None:
    """The seller's user ID, or None for text that cannot be one (prices, labels, navigation)."""
    name = text.strip()
    if _USERNAME.fullmatch(name) is None or name.casefold() in _NOT_SELLERS:
        return None
    # A bare number such as "99.5" is a stray rating, not a user ID.
    if not any(ch.isalpha() for ch in name):
        return None
    return name


def _page_kind(tree: LexborHTMLParser) -> PageKind:
    if tree.css_first(_SEARCH_PAGE_MARKERS) is not None:
        return "gallery" if tree.css_first(_GALLERY) is not None else "list"
    if tree.css_first(_ITEM_PAGE_MARKERS) is not None:
        return "item"
    title = tree.css_first("title")
    heading = tree.css_first("h1")
    words = " ".join(_text(node) for node in (title, heading) if node is not None).casefold()
    if any(marker in words for marker in _BLOCK_TITLES):
        return "blocked"
    return "other"


def _ebay_site(url: str | None) -> str | None:
    if not url:
        return None
    match = _EBAY_HOST.search(urlsplit(url.strip()).hostname or "")
    return None if match is None else match.group(1)


def _read_listing(item: LexborNode, locale: PageLocale) -> EbayListing | None:
    layout = _CARD if item.css_matches(".s-card") else _LIST_ITEM
    link = item.css_first(_ITEM_LINKS)
    if link is None:
        return None
    title_node = item.css_first(layout.title)
    title = _text(title_node, separator="") if title_node is not None else ""
    if title.casefold().startswith("shop on ebay"):
        return None
    item_id = _item_id(item, link)
    url = _canonical_url(link, item_id, locale)
    money = _listing_price(item, layout.price, locale.prices)
    seller = _listing_seller(item, layout, locale.figures, url)
    return EbayListing(
        item_id=item_id,
        title=title,
        price=None if money is None else money.amount,
        currency=None if money is None else money.currency,
        url=url,
        seller=seller,
    )


def _first_listing_per_seller(listings: list[EbayListing]) -> list[EbaySeller]:
    sellers: dict[str, EbaySeller] = {}
    for listing in listings:
        if listing.seller is not None:
            sellers.setdefault(listing.seller.username.casefold(), listing.seller)
    return list(sellers.values())


def _item_id(item: LexborNode, link: LexborNode) -> str | None:
    # The link is what a buyer follows; `data-listingid` is only on cards, and the 2021 list
    # layout wrote its links as /itm/<title-slug>/<id>.
    match = _ITEM_ID_IN_PATH.search(urlsplit((link.attributes.get("href") or "").strip()).path + "?")
    if match is not None:
        return match.group(1)
    listing_id = (item.attributes.get("data-listingid") or "").strip()
    return listing_id if listing_id.isdigit() else None


def _canonical_url(link: LexborNode, item_id: str | None, locale: PageLocale) -> str | None:
    # Tracking parameters make the same listing look different on every page load.
    if item_id is None:
        return None
    site = _ebay_site(link.attributes.get("href")) or locale.site or "ebay.com"
    return f"https://www.{site}/itm/{item_id}"


def _listing_price(item: LexborNode, selector: str, number_format: NumberFormat) -> Money | None:
    # Sold listings show the price struck through when the accepted offer is hidden, and some
    # cards strike an earlier price beside the current one: the first one not struck wins.
    nodes = item.css(selector)
    if not nodes:
        return None
    current = [node for node in nodes if "strikethrough" not in (node.attributes.get("class") or "")]
    low = _RANGE.split(_text((current or nodes)[0]))[0]
    return parse_money(low, number_format)


def _listing_seller(item: LexborNode, layout: _Layout, figures: NumberFormat, url: str | None) -> EbaySeller | None:
    # The seller row is found by its wording because the same row class also holds price, shipping
    # and coupon lines. It closes the card (after the price rows), so reading from the end finds it
    # first (about 1 ms less on a page of 60); the listing itself is the last resort for unusual nesting.
    for scope in [*reversed(item.css(layout.seller_scopes)), item]:
        texts = [text for span in scope.css(layout.seller_spans) if (text := _text(span))] or [_text(scope)]
        found = _seller_in_texts(texts, figures)
        if found is None and scope is not item:
            # The older wording may also be split over pieces, and is the one wording a bare count
            # stands for in the list layout's own seller slot.
            lenient = scope.css_matches(".s-item__seller-info-text")
            found = _name_count_percent(" ".join(texts), figures, lenient=lenient)
        if found is not None:
            name, count, percent = found
            return EbaySeller(username=name, feedback_count=count, feedback_percent=percent, item_url=url)
    return None


_Feedback = tuple[str, int | None, Decimal | None]


def _seller_in_texts(texts: list[str], figures: NumberFormat) -> _Feedback | None:
    """A seller line in the pieces of one row: 'name' + '99.5% positive (1.2K)', or one piece with both."""
    for index, text in enumerate(texts):
        found = _name_count_percent(text, figures, lenient=False)
        if found is not None:
            return found
        for marker in _PERCENT_WORDS_COUNT.finditer(text):
            feedback = _percent_words_count(marker, figures)
            if feedback is None:
                continue
            prefix = text[: marker.start()].split()
            # Either "name 99.5% positive (1.2K)" in one piece, or the name in the piece before.
            name = prefix[-1] if prefix else texts[index - 1] if index > 0 else ""
            username = clean_username(name)
            return None if username is None else (username, *feedback)
    return None


def _percent_words_count(marker: re.Match[str], figures: NumberFormat) -> tuple[int | None, Decimal] | None:
    words = marker.group("words").split()
    count_text = marker.group("count")
    if not words or len(words) > _MAX_FEEDBACK_WORDS:
        return None
    if count_text is None and " ".join(words).casefold() not in _COUNTLESS_WORDS:
        return None
    percent = parse_feedback_percent(marker.group("percent"), figures)
    count = None if count_text is None else parse_feedback_count(count_text, figures)
    if percent is None or (count_text is not None and count is None):
        return None
    return count, percent


def _name_count_percent(text: str, figures: NumberFormat, *, lenient: bool) -> _Feedback | None:
    """'name (12,345) 99.5%'; `lenient` (the list layout's own seller slot) also takes 'name (12,345)'."""
    match = _NAME_COUNT_PERCENT.fullmatch(text)
    if match is None or (match.group("percent") is None and not lenient):
        return None
    username = clean_username(match.group("name"))
    count = parse_feedback_count(match.group("count"), figures)
    percent_text = match.group("percent")
    percent = None if percent_text is None else parse_feedback_percent(percent_text, figures)
    if username is None or count is None or (percent_text is not None and percent is None):
        return None
    return username, count, percent


def _text(node: LexborNode, separator: str = " ") -> str:
    """The node's text with all whitespace runs (including those between tags) collapsed to one space."""
    return " ".join(node.text(separator=separator).split())


def _has_next_page(tree: LexborHTMLParser) -> bool:
    # On the last page eBay still renders the arrow, as a disabled button or link, so its mere
    # presence (what the earlier system checked) says nothing.
    for node in tree.css(".pagination__next"):
        if node.tag != "a" or (node.attributes.get("aria-disabled") or "").strip().lower() == "true":
            continue
        href = (node.attributes.get("href") or "").strip()
        if href and not href.startswith(("#", "javascript:")):
            return True
    return False
