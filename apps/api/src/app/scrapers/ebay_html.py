"""Sellers from an eBay search-results page, read with a real HTML parser.

eBay has served three list layouts since 2021, sometimes to the same client:

- cards (since August 2025): `li.s-card`; the seller line is an `.s-card__attribute-row` inside
  `.su-card-container__attributes__secondary`, either two spans ("name", "99.5% positive (1.2K)")
  or, for Top Rated sellers, one span in `.s-card__program-badge-container--sellerOrStoreInfo`
  ("name 99.5% positive (1.2K)");
- list with seller info (to mid 2025): `li.s-item` with `span.s-item__seller-info-text` reading
  "name (12,345) 99.5%";
- list with a trust line (mid 2025): `li.s-item` whose `span.s-item__etrs-text` holds two
  `span.PRIMARY` ("name", "100% positive (9.6K)"), or on other listings only "Top Rated Seller".

Gallery view (`ul.srp-results.srp-grid`) shows no seller line at all, which is why every search
URL asks for list view; a gallery page is reported as such so the caller can ask again.

All layouts start with a "Shop on eBay" placeholder, and when the exact matches run out eBay
appends "Results matching fewer words" after an `li.srp-river-answer--REWRITE_START` separator;
those listings do not match the search, so reading stops there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from app.scrapers.base import EbaySeller
from app.scrapers.prices import parse_price

PageKind = Literal["list", "gallery", "item", "blocked", "other"]

_ITEMS = "li.s-card, li.s-item, li.srp-river-answer--REWRITE_START"
_CARD_SELLER_ROWS = ".s-card__program-badge-container--sellerOrStoreInfo, .s-card__attribute-row"
_ITEM_LINKS = 'a[href*="/itm/"]'
# Any of these means the document is a search page, even one with no listings at all.
_SEARCH_PAGE_MARKERS = (
    "ul.srp-results, .srp-river-results, #srp-river-results, .srp-controls__count-heading, "
    ".srp-save-null-search, li.s-card, li.s-item"
)
_GALLERY = "ul.srp-results.srp-grid"
# Item pages name themselves in their canonical link and Open Graph type.
_ITEM_PAGE_MARKERS = 'link[rel="canonical"][href*="/itm/"], meta[property="og:type"][content="ebay-objects:item"]'
_BLOCK_TITLES = ("pardon our interruption", "security measure", "access denied", "robot check", "captcha")

# "99.5% positive", or in another language "99.7% ポジティブ (3.5M)": a percent, a word, a count.
_COUNT_IN_PARENS = r"\(\s*(\d[\d,]*(?:\.\d+)?)\s*([KkMm]?)\s*\)"
_FEEDBACK = re.compile(
    rf"(\d{{1,3}}(?:\.\d+)?)\s*%\s*(?:positive\b\s*(?:{_COUNT_IN_PARENS})?|[^\s\d()%]+\s*{_COUNT_IN_PARENS})",
    re.IGNORECASE,
)
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")
_PAREN_COUNT = re.compile(_COUNT_IN_PARENS)
_COMPACT_COUNT = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*([KkMm]?)")
_PRICE_RANGE = re.compile(r"\s+(?:to|-|–)\s+")
# eBay user IDs are letters, digits and . _ - * ; anything else in that position is page chrome.
_USERNAME = re.compile(r"[A-Za-z0-9._*\-]{2,64}")
_NOT_SELLERS = frozenset({"myebay", "savedsellers", "watchlist", "purchase-history", "signin", "sponsored"})
_MULTIPLIERS = {"": 1, "K": 1_000, "M": 1_000_000}


@dataclass(frozen=True)
class SearchPageParse:
    sellers: list[EbaySeller]
    has_more: bool
    kind: PageKind
    # Real listings read (placeholders and "fewer words" results excluded).
    listings: int = 0
    # The page ended its exact matches ("Results matching fewer words" followed).
    exact_matches_ended: bool = False
    # Each listing's price, the low end for "$5.00 to $9.00"; unreadable prices are left out.
    prices: tuple[Decimal, ...] = ()

    @property
    def is_search_page(self) -> bool:
        """False for a block page, an item page or an error page: there was no result list at all."""
        return self.kind in ("list", "gallery")

    @property
    def layout_understood(self) -> bool:
        """False when listings were there but no seller line could be read from any of them."""
        return self.is_search_page and not (self.listings > 0 and not self.sellers)

    def describe(self) -> str:
        """What the page was, for an error message."""
        if self.kind == "gallery":
            return "a gallery-view search page (no seller lines)"
        if self.kind == "list":
            return f"a search page whose {self.listings} listings carry no seller line this parser can read"
        return {
            "item": "an eBay item page, not search results",
            "blocked": "an eBay block or captcha page",
            "other": "not an eBay search results page",
        }[self.kind]


def parse_search_page(html: str) -> tuple[list[EbaySeller], bool]:
    """The page's sellers (first listing wins, in page order) and whether a next page exists."""
    parsed = parse_search_html(html)
    return parsed.sellers, parsed.has_more


def parse_search_html(html: str) -> SearchPageParse:
    tree = LexborHTMLParser(html)
    kind = _page_kind(tree)
    sellers: list[EbaySeller] = []
    seen: set[str] = set()
    fewer_words = False
    listings = 0
    prices: list[Decimal] = []
    for item in tree.css(_ITEMS):
        if item.css_matches(".srp-river-answer--REWRITE_START"):
            fewer_words = True
            break
        is_card = item.css_matches(".s-card")
        if _is_placeholder(item, ".s-card__title" if is_card else ".s-item__title"):
            continue
        if item.css_first(_ITEM_LINKS) is None:
            continue
        listings += 1
        price = _listing_price(item, ".s-card__price" if is_card else ".s-item__price")
        if price is not None:
            prices.append(price)
        seller = _card_seller(item) if is_card else _list_seller(item)
        if seller is None:
            continue
        key = seller.username.casefold()
        if key not in seen:
            seen.add(key)
            sellers.append(seller)
    return SearchPageParse(
        sellers=sellers,
        has_more=not fewer_words and _has_next_page(tree),
        kind=kind,
        listings=listings,
        exact_matches_ended=fewer_words,
        prices=tuple(prices),
    )


def parse_feedback_count(text: str) -> int | None:
    """'12,345' -> 12345, '1.2K' -> 1200, '3.5M' -> 3500000; None when there is no count."""
    match = _COMPACT_COUNT.fullmatch(text.strip())
    return None if match is None else _count(match.group(1), match.group(2))


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


def _card_seller(card: LexborNode) -> EbaySeller | None:
    # The seller row is found by its feedback marker because the same row class also holds
    # price, shipping and coupon lines; the card itself is the last resort for unusual nesting.
    for scope in [*card.css(_CARD_SELLER_ROWS), card]:
        seller = _seller_in_spans(scope, "span.su-styled-text", card)
        if seller is not None:
            return seller
    return None


def _list_seller(item: LexborNode) -> EbaySeller | None:
    info = item.css_first("span.s-item__seller-info-text")
    if info is not None:
        return _seller_info_text(item, _text(info))
    # The trust line holds either "name" + "99.5% positive (1.2K)" or only "Top Rated Seller".
    for etrs in item.css(".s-item__etrs-text"):
        seller = _seller_in_spans(etrs, "span.PRIMARY", item)
        if seller is not None:
            return seller
    return None


def _seller_info_text(item: LexborNode, text: str) -> EbaySeller | None:
    """'name (12,345) 99.5%'."""
    words = text.split()
    username = clean_username(words[0]) if words else None
    if username is None:
        return None
    rest = text[len(words[0]) :]
    count_match = _PAREN_COUNT.search(rest)
    percent_match = _PERCENT.search(rest)
    return EbaySeller(
        username=username,
        feedback_count=None if count_match is None else _count(count_match.group(1), count_match.group(2)),
        feedback_percent=None if percent_match is None else _percent(percent_match.group(1)),
        item_url=_item_url(item),
    )


def _seller_in_spans(scope: LexborNode, span_selector: str, listing: LexborNode) -> EbaySeller | None:
    texts = [text for span in scope.css(span_selector) if (text := _text(span))]
    if not texts:
        texts = [_text(scope)]
    for index, text in enumerate(texts):
        marker = _FEEDBACK.search(text)
        if marker is None:
            continue
        prefix = text[: marker.start()].split()
        # Either "name 99.5% positive (1.2K)" in one span, or the name in the span before.
        if prefix:
            name = prefix[-1]
        elif index > 0:
            name = texts[index - 1]
        else:
            return None
        username = clean_username(name)
        if username is None:
            return None
        number = marker.group(2) or marker.group(4)
        suffix = marker.group(3) or marker.group(5) or ""
        return EbaySeller(
            username=username,
            feedback_count=None if number is None else _count(number, suffix),
            feedback_percent=_percent(marker.group(1)),
            item_url=_item_url(listing),
        )
    return None


def _is_placeholder(item: LexborNode, title_selector: str) -> bool:
    title = item.css_first(title_selector)
    return title is not None and _text(title).casefold().startswith("shop on ebay")


def _text(node: LexborNode) -> str:
    """The node's text with all whitespace runs (including those between tags) collapsed to one space."""
    return " ".join(node.text(separator=" ").split())


def _item_url(item: LexborNode) -> str | None:
    # Any link to the listing will do: the card layout of Aug-Oct 2025 had only `a.su-link`.
    for link in item.css(_ITEM_LINKS):
        href = (link.attributes.get("href") or "").strip()
        if "/itm/" in href:
            # Tracking parameters make the same listing look different on every page load.
            parts = urlsplit(href)
            return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return None


def _listing_price(item: LexborNode, selector: str) -> Decimal | None:
    node = item.css_first(selector)
    if node is None:
        return None
    low = _PRICE_RANGE.split(_text(node))[0]
    return parse_price(low)


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


def _count(number: str, suffix: str) -> int | None:
    try:
        value = Decimal(number.replace(",", "")) * _MULTIPLIERS[suffix.upper()]
    except InvalidOperation:
        return None
    return int(value)


def _percent(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if 0 <= value <= 100 else None
