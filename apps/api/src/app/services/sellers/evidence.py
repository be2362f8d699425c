"""What a product's search leaves as evidence: each listing read with a seller, checked and compared.

A listing becomes evidence only with a seller and an eBay item id (the row's key). Its URL is
kept only when it is a safe eBay link other than the one its item id gives; its title is compared
with the Amazon title (title_match.py); its price is checked against the window searched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from app.repositories.evidence import ListingEvidence
from app.scrapers.base import EbayListing, PriceWindow
from app.scrapers.links import EBAY_HOSTS, ebay_item_url, is_item_id, marketplace_url
from app.services.sellers.names import normalize_name
from app.services.sellers.title_match import title_match

# eBay titles have at most 80 characters; anything much longer is not a title.
MAX_TITLE = 200
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")


def listing_evidence(listing: EbayListing, *, amazon_title: str, window: PriceWindow) -> ListingEvidence | None:
    """The evidence row of one listing, or None when it has no seller or no usable item id."""
    seller, item_id = listing.seller, listing.item_id
    if seller is None or not is_item_id(item_id) or not (key := normalize_name(seller.username)):
        return None
    assert item_id is not None
    url = marketplace_url(listing.url, EBAY_HOSTS)
    currency = listing.currency if listing.currency and _CURRENCY.fullmatch(listing.currency) else None
    title = " ".join(listing.title.split())[:MAX_TITLE]
    return ListingEvidence(
        seller_key=key,
        item_id=int(item_id),
        title=title,
        price=listing.price,
        currency=currency,
        location=listing.location if listing.location and _COUNTRY.fullmatch(listing.location) else None,
        url=None if url == ebay_item_url(item_id) else url,
        title_match=title_match(title, amazon_title),
        in_window=_in_window(listing.price, currency, window),
    )


def _in_window(price: Decimal | None, currency: str | None, window: PriceWindow) -> bool | None:
    if price is None or currency not in (None, "USD"):
        return None  # no price to compare with a window in dollars
    return window.low <= price <= window.high


def page_evidence(
    listings: Iterable[EbayListing], *, amazon_title: str, window: PriceWindow
) -> dict[tuple[str, int], ListingEvidence]:
    """The evidence of a page's listings, by (seller, item id): a listing shown twice is one row."""
    found: dict[tuple[str, int], ListingEvidence] = {}
    for listing in listings:
        row = listing_evidence(listing, amazon_title=amazon_title, window=window)
        if row is not None:
            found.setdefault((row.seller_key, row.item_id), row)
    return found
