"""Picks the marketplace providers the settings ask for, one per phase."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from app.config import Settings
from app.errors import InvalidInput
from app.scrapers.base import Marketplace
from app.scrapers.demo import DemoMarketplace
from app.scrapers.ebay_browse import EbayBrowseSearch
from app.scrapers.oxylabs import OxylabsMarketplace
from app.scrapers.phased import PhasedMarketplace


def build_marketplace(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    ebay_transport: httpx.AsyncBaseTransport | None = None,
) -> Marketplace:
    """The providers of `settings.resolved_provider` (Amazon) and `resolved_ebay_provider` (eBay).

    `transport` reaches the Oxylabs client and `ebay_transport` the Browse API client (tests).
    """
    amazon = _build(settings, settings.resolved_provider, transport)
    ebay_name = settings.resolved_ebay_provider
    if ebay_name == amazon.name:
        return amazon
    if ebay_name == "ebay_api":
        ebay: Marketplace | EbayBrowseSearch = EbayBrowseSearch(settings, transport=ebay_transport)
    else:
        ebay = _build(settings, ebay_name, transport)
    return PhasedMarketplace(amazon, ebay)


def _build(settings: Settings, name: str, transport: httpx.AsyncBaseTransport | None) -> Marketplace:
    if name == "oxylabs":
        if not settings.oxylabs_configured:
            raise InvalidInput(
                "The oxylabs provider was chosen but OXYLABS_USERNAME and OXYLABS_PASSWORD are not both set; "
                "set them, or choose the demo provider (SELLERCOLLECTION_PROVIDER=demo)"
            )
        return OxylabsMarketplace(settings, transport=transport)
    return DemoMarketplace(settings)


def marketplace_factory(settings: Settings) -> Callable[[str], Marketplace]:
    """Builds the provider a run names (runs keep the provider they were created with)."""

    def build(provider: str) -> Marketplace:
        return build_marketplace(settings.model_copy(update={"provider": provider}))

    return build
