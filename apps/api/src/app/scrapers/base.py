"""What the pipeline needs from a marketplace provider: two small protocols and their data.

Providers never retry and never sleep on their own: they raise `RateLimited` (with Retry-After
when the upstream sent one) or `UpstreamError` (with an `error_type`), and the pipeline decides
how the whole run reacts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol


@dataclass(frozen=True)
class AmazonProduct:
    asin: str
    title: str
    price: Decimal | None  # dollars, exact
    currency: str
    rating: float | None
    url: str
    position: int


@dataclass(frozen=True)
class EbaySeller:
    username: str
    feedback_count: int | None
    feedback_percent: Decimal | None
    item_url: str | None


@dataclass(frozen=True)
class EbayListing:
    """One listing of a search page, as shown: the evidence of why its seller was found."""

    item_id: str | None  # eBay's legacy item id (digits only), the same id the Browse API gives as legacyItemId
    title: str  # as shown, without helper text ("New Listing", "Opens in a new window or tab", ...)
    price: Decimal | None  # the listing's price (the low end of a range)
    currency: str | None  # ISO 4217 where the page tells (USD, GBP, EUR, JPY, ...)
    url: str | None  # https://www.ebay.<tld>/itm/<item_id>, tracking parameters dropped
    seller: EbaySeller | None  # None when the listing shows no readable seller line
    location: str | None = None  # item location country (ISO-2) where the provider tells


@dataclass(frozen=True)
class EbaySearchPage:
    sellers: list[EbaySeller]  # first listing wins per seller, in page order
    has_more: bool
    url: str  # the eBay search URL this page came from (shown in the activity feed)
    # Listings on the page inside the price window; None when the provider cannot tell.
    listings_in_window: int | None = None
    # "Results matching fewer words" followed: later pages hold no exact matches.
    exact_matches_ended: bool = False
    # Every real listing read (placeholders and results after a separator excluded), in page order.
    listings: list[EbayListing] = field(default_factory=list)

    @property
    def listings_with_seller(self) -> int:
        """How many of `listings` had a readable seller line: with len(listings), the page's coverage."""
        return sum(1 for listing in self.listings if listing.seller is not None)

    @property
    def seller_coverage(self) -> float | None:
        """The share of listings with a readable seller line; None for a page without listings."""
        return self.listings_with_seller / len(self.listings) if self.listings else None


@dataclass(frozen=True)
class PriceWindow:
    """The eBay price range searched for one Amazon product, in dollars."""

    low: Decimal
    high: Decimal

    @classmethod
    def around(cls, amazon_price: Decimal, low_multiplier: float, high_multiplier: float) -> PriceWindow:
        cent = Decimal("0.01")
        low = (amazon_price * Decimal(str(low_multiplier))).quantize(cent, rounding=ROUND_HALF_UP)
        high = (amazon_price * Decimal(str(high_multiplier))).quantize(cent, rounding=ROUND_HALF_UP)
        return cls(low=low, high=high)


class AmazonBestsellers(Protocol):
    async def bestsellers(self, node_id: str) -> list[AmazonProduct]:
        """The best-seller list (first page) of one Amazon browse node."""
        ...


class EbaySearch(Protocol):
    async def search_sellers(
        self, query: str, window: PriceWindow, page: int, *, list_view_forced: bool = False
    ) -> EbaySearchPage:
        """Sellers on one page of an eBay search: Brand New, free shipping, US, within `window`.

        Raises `UpstreamError(error_type="layout")` when the page had listings but no readable
        seller line (gallery view, an unknown layout); `list_view_forced` asks once more, as hard
        as the provider can, for the list view.
        """
        ...


class Marketplace(AmazonBestsellers, EbaySearch, Protocol):
    """One provider serving both sides, owning its connections."""

    name: str

    async def aclose(self) -> None: ...
