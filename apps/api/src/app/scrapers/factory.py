"""Picks the marketplace provider the settings ask for."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from app.config import Settings
from app.errors import InvalidInput
from app.scrapers.base import Marketplace
from app.scrapers.demo import DemoMarketplace
from app.scrapers.oxylabs import OxylabsMarketplace


def build_marketplace(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> Marketplace:
    """The provider for `settings.resolved_provider`; `transport` only reaches the Oxylabs client (tests)."""
    if settings.resolved_provider == "oxylabs":
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
