"""One `Marketplace` from two providers: Amazon best sellers from one, eBay searches from another."""

from __future__ import annotations

from typing import Protocol

from app.scrapers.base import AmazonBestsellers, AmazonProduct, EbaySearch, EbaySearchPage, PriceWindow


class _AmazonSide(AmazonBestsellers, Protocol):
    name: str

    async def aclose(self) -> None: ...


class _EbaySide(EbaySearch, Protocol):
    name: str

    async def aclose(self) -> None: ...


class PhasedMarketplace:
    def __init__(self, amazon: _AmazonSide, ebay: _EbaySide) -> None:
        self.amazon = amazon
        self.ebay = ebay
        self.name = f"{amazon.name}+{ebay.name}"

    async def bestsellers(self, node_id: str) -> list[AmazonProduct]:
        return await self.amazon.bestsellers(node_id)

    async def search_sellers(
        self, query: str, window: PriceWindow, page: int, *, list_view_forced: bool = False
    ) -> EbaySearchPage:
        return await self.ebay.search_sellers(query, window, page, list_view_forced=list_view_forced)

    async def aclose(self) -> None:
        try:
            await self.amazon.aclose()
        finally:
            await self.ebay.aclose()
