"""Sellers from an eBay search-results page, read with a real HTML parser.

eBay serves two layouts, sometimes to the same client:

- cards (current): `li.s-card`; the seller line is an `.s-card__attribute-row` inside
  `.su-card-container__attributes__secondary`, either two spans ("name", "99.5% positive (1.2K)")
  or, for Top Rated sellers, one span in `.s-card__program-badge-container--sellerOrStoreInfo`
  ("name 99.5% positive (1.2K)");
- list (older): `li.s-item` with `span.s-item__seller-info-text` reading "name (12,345) 99.5%".

Both start with a "Shop on eBay" placeholder, and when the exact matches run out eBay appends
"Results matching fewer words" after an `li.srp-river-answer--REWRITE_START` separator; those
listings do not match the search, so reading stops there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from app.scrapers.base import EbaySeller

_ITEMS = "li.s-card, li.s-item, li.srp-river-answer--REWRITE_START"
_CARD_SELLER_ROWS = ".s-card__program-badge-container--sellerOrStoreInfo, .s-card__attribute-row"
# Any of these means the document is a search page, even one with no listings at all.
_SEARCH_PAGE_MARKERS = (
    "ul.srp-results, .srp-river-results, #srp-river-results, .srp-controls__count-heading, "
    ".srp-save-null-search, li.s-card, li.s-item"
)

_PERCENT_POSITIVE = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%\s*positive", re.IGNORECASE)
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")
_PAREN_COUNT = re.compile(r"\(\s*(\d[\d,]*(?:\.\d+)?)\s*([KkMm]?)\s*\)")
_COMPACT_COUNT = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*([KkMm]?)")
# eBay user IDs are letters, digits and . _ - * ; anything else in that position is page chrome.
_USERNAME = re.compile(r"[A-Za-z0-9._*\-]{2,64}")
_NOT_SELLERS = frozenset({"myebay", "savedsellers", "watchlist", "purchase-history", "signin", "sponsored"})
_MULTIPLIERS = {"": 1, "K": 1_000, "M": 1_000_000}


@dataclass(frozen=True)
class SearchPageParse:
    sellers: list[EbaySeller]
    has_more: bool
    # False for a block page, a captcha or an error page: there was no result list to read at all.
    is_search_page: bool


def parse_search_page(html: str) -> tuple[list[EbaySeller], bool]:
    """The page's sellers (first listing wins, in page order) and whether a next page exists."""
    parsed = parse_search_html(html)
    return parsed.sellers, parsed.has_more


def parse_search_html(html: str) -> SearchPageParse:
    tree = LexborHTMLParser(html)
    sellers: list[EbaySeller] = []
    seen: set[str] = set()
    fewer_words = False
    for item in tree.css(_ITEMS):
        if item.css_matches(".srp-river-answer--REWRITE_START"):
            fewer_words = True
            break
        seller = _card_seller(item) if item.css_matches(".s-card") else _list_seller(item)
        if seller is None:
            continue
        key = seller.username.casefold()
        if key not in seen:
            seen.add(key)
            sellers.append(seller)
    return SearchPageParse(
        sellers=sellers,
        has_more=not fewer_words and _has_next_page(tree),
        is_search_page=tree.css_first(_SEARCH_PAGE_MARKERS) is not None,
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


def _card_seller(card: LexborNode) -> EbaySeller | None:
    if _is_placeholder(card, ".s-card__title"):
        return None
    # The seller row is found by its "% positive" marker because the same row class also holds
    # price, shipping and coupon lines; the card itself is the last resort for unusual nesting.
    for scope in [*card.css(_CARD_SELLER_ROWS), card]:
        found = _seller_in_spans(scope)
        if found is not None:
            name, count, percent = found
            username = clean_username(name)
            if username is None:
                return None
            return EbaySeller(username, count, percent, _item_url(card, "a.s-card__link"))
    return None


def _seller_in_spans(scope: LexborNode) -> tuple[str, int | None, Decimal | None] | None:
    texts = [text for span in scope.css("span.su-styled-text") if (text := _text(span))]
    if not texts:
        texts = [_text(scope)]
    for index, text in enumerate(texts):
        marker = _PERCENT_POSITIVE.search(text)
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
        count_match = _PAREN_COUNT.search(text, marker.end())
        count = None if count_match is None else _count(count_match.group(1), count_match.group(2))
        return name, count, _percent(marker.group(1))
    return None


def _list_seller(item: LexborNode) -> EbaySeller | None:
    if _is_placeholder(item, ".s-item__title"):
        return None
    info = item.css_first("span.s-item__seller-info-text")
    if info is None:
        return None
    text = _text(info)
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
        item_url=_item_url(item, "a.s-item__link"),
    )


def _is_placeholder(item: LexborNode, title_selector: str) -> bool:
    title = item.css_first(title_selector)
    return title is not None and _text(title).casefold().startswith("shop on ebay")


def _text(node: LexborNode) -> str:
    """The node's text with all whitespace runs (including those between tags) collapsed to one space."""
    return " ".join(node.text(separator=" ").split())


def _item_url(item: LexborNode, link_selector: str) -> str | None:
    for link in item.css(link_selector):
        href = (link.attributes.get("href") or "").strip()
        if "/itm/" in href:
            # Tracking parameters make the same listing look different on every page load.
            parts = urlsplit(href)
            return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return None


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
