"""What the pipeline needs from a marketplace provider: two small protocols and their data.

Providers never retry and never sleep on their own: they raise `RateLimited` (with Retry-After
when the upstream sent one) or `UpstreamError` (with an `error_type`), and the pipeline decides
how the whole run reacts.
"""

from __future__ import annotations

from dataclasses import dataclass
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
class EbaySearchPage:
    sellers: list[EbaySeller]
    has_more: bool
    url: str  # the eBay search URL this page came from (shown in the activity feed)


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
    async def search_sellers(self, query: str, window: PriceWindow, page: int) -> EbaySearchPage:
        """Sellers on one page of an eBay search: Brand New, free shipping, US, within `window`."""
        ...


class Marketplace(AmazonBestsellers, EbaySearch, Protocol):
    """One provider serving both sides, owning its connections."""

    name: str

    async def aclose(self) -> None: ...
