"""The Oxylabs Realtime API as a `Marketplace`: Amazon best sellers as parsed JSON, eBay searches as HTML.

One `httpx.AsyncClient` serves every call of a provider's life (the earlier system opened one per
request). Failures become `UpstreamError` / `RateLimited` with an `error_type`; nothing here
retries or sleeps, because the pipeline owns pacing for the whole run.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx

from app.config import Settings
from app.errors import RateLimited, UpstreamError
from app.scrapers.base import AmazonProduct, EbaySearchPage, PriceWindow
from app.scrapers.ebay_html import parse_search_html
from app.scrapers.prices import parse_price
from app.scrapers.upstream_http import credentials, json_client, parse_retry_after, upstream_timeout

logger = logging.getLogger(__name__)

AMAZON_BASE_URL = "https://www.amazon.com"
EBAY_SEARCH_URL = "https://www.ebay.com/sch/i.html"
EBAY_ITEMS_PER_PAGE = 60


@dataclass(frozen=True)
class OxylabsTimeouts:
    """Per-call limits; Oxylabs renders eBay pages in a browser, hence the longer one."""

    amazon_seconds: float = 30.0
    ebay_seconds: float = 90.0


def ebay_search_url(query: str, window: PriceWindow, page: int) -> str:
    """The eBay search for resellers: Brand New, free shipping, US located, priced within `window`.

    `_dmd=1` asks for list view: gallery view, which eBay picks for many queries, shows no sellers.
    """
    if page < 1:
        raise ValueError(f"eBay pages start at 1, not {page}")
    return (
        f"{EBAY_SEARCH_URL}?_nkw={quote_plus(query)}&LH_ItemCondition=1000&LH_Free=1&LH_PrefLoc=1"
        f"&_udlo={window.low:.2f}&_udhi={window.high:.2f}&_ipg={EBAY_ITEMS_PER_PAGE}&_pgn={page}&_dmd=1"
    )


def _malformed(what: str) -> UpstreamError:
    return UpstreamError(f"malformed response: {what}", error_type="parse_error")


class OxylabsMarketplace:
    name: str = "oxylabs"

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeouts: OxylabsTimeouts | None = None,
    ) -> None:
        username, password = credentials(
            settings.oxylabs_username,
            settings.oxylabs_password,
            missing="The oxylabs provider needs OXYLABS_USERNAME and OXYLABS_PASSWORD",
        )
        self._url = settings.oxylabs_base_url
        self._timeouts = timeouts or OxylabsTimeouts()
        self._client = json_client(
            transport=transport,
            timeout_seconds=self._timeouts.ebay_seconds,
            auth=httpx.BasicAuth(username, password),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def bestsellers(self, node_id: str) -> list[AmazonProduct]:
        payload = {
            "source": "amazon_bestsellers",
            "domain": "com",
            "query": node_id,
            "parse": True,
            "start_page": 1,
            "pages": 1,
        }
        result = await self._query(payload, self._timeouts.amazon_seconds)
        content = result.get("content")
        if not isinstance(content, dict):
            raise _malformed("results[0].content is not an object")
        items = content.get("results")
        if not isinstance(items, list):
            raise _malformed("results[0].content.results is not a list")
        products = _products(items)
        if not products:
            # A best-seller list is never empty; an empty answer means the page was not understood.
            raise UpstreamError(
                f"Amazon best-seller answer for node {node_id} held no products (the page layout was not understood)",
                error_type="layout",
            )
        return products

    async def search_sellers(
        self, query: str, window: PriceWindow, page: int, *, list_view_forced: bool = False
    ) -> EbaySearchPage:
        url = ebay_search_url(query, window, page)
        if window.low >= window.high:
            # eBay cannot match an empty range, so a paid request would only confirm that.
            return EbaySearchPage(sellers=[], has_more=False, url=url, listings_in_window=0)
        # `rt=nc` asks eBay not to serve a cached rendering, which can keep an earlier gallery view.
        requested = url + "&rt=nc" if list_view_forced else url
        payload = {
            "source": "universal_ecommerce",
            "url": requested,
            "geo_location": "United States",
            "user_agent_type": "desktop",
            "render": "html",
        }
        result = await self._query(payload, self._timeouts.ebay_seconds)
        content = result.get("content")
        if not isinstance(content, str) or not content.strip():
            raise _malformed("results[0].content is not an HTML string")
        parsed = parse_search_html(content)
        if not parsed.is_search_page:
            raise _malformed(f"the HTML is {parsed.describe()}")
        if not parsed.layout_understood:
            raise UpstreamError(f"eBay page layout not understood: {parsed.describe()}", error_type="layout")
        in_window = sum(1 for price in parsed.prices if window.low <= price <= window.high)
        return EbaySearchPage(
            sellers=parsed.sellers,
            has_more=parsed.has_more,
            url=url,
            # Without a readable price on any listing, the window check cannot speak.
            listings_in_window=in_window if parsed.prices else None,
            exact_matches_ended=parsed.exact_matches_ended,
            listings=list(parsed.listings),
        )

    async def _query(self, payload: Mapping[str, object], timeout_seconds: float) -> Mapping[str, Any]:
        """POST one job and return `results[0]`, turning every failure into an `UpstreamError`."""
        source = payload["source"]
        started = time.monotonic()
        try:
            response = await self._client.post(self._url, json=payload, timeout=upstream_timeout(timeout_seconds))
        except httpx.TimeoutException as exc:
            raise UpstreamError(f"Oxylabs did not answer within {timeout_seconds:g} s", error_type="timeout") from exc
        except httpx.DecodingError as exc:
            raise _malformed("the body could not be decoded") from exc
        except httpx.RequestError as exc:
            raise UpstreamError(f"could not reach Oxylabs ({type(exc).__name__})", error_type="network") from exc
        logger.debug("oxylabs %s answered HTTP %s in %.2f s", source, response.status_code, time.monotonic() - started)
        _raise_for_status(response)
        try:
            data = response.json()
        except ValueError as exc:
            raise _malformed("the body is not JSON") from exc
        if not isinstance(data, dict):
            raise _malformed("the body is not a JSON object")
        results = data.get("results")
        if not isinstance(results, list):
            raise _malformed("no `results` list")
        if not results:
            raise _malformed("`results` is empty")
        first = results[0]
        if not isinstance(first, dict):
            raise _malformed("results[0] is not an object")
        return first


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise RateLimited("Oxylabs answered HTTP 429", retry_after=retry_after)
    detail = f"Oxylabs answered HTTP {status}"
    if status in (401, 403):
        detail += ": the credentials were rejected (check OXYLABS_USERNAME and OXYLABS_PASSWORD)"
    elif message := _error_message(response):
        detail += f": {message}"
    raise UpstreamError(detail, error_type="http_error")


def _error_message(response: httpx.Response) -> str | None:
    """Oxylabs explains refusals in `{"message": ...}`; worth surfacing, but only briefly."""
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get("message") if isinstance(body, dict) else None
    return message[:200] if isinstance(message, str) and message else None


def _products(items: list[Any]) -> list[AmazonProduct]:
    products: list[AmazonProduct] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        asin = item.get("asin")
        if not isinstance(asin, str) or not asin.strip() or asin.strip() in seen:
            continue
        asin = asin.strip()
        seen.add(asin)
        products.append(
            AmazonProduct(
                asin=asin,
                title=_text(item.get("title")),
                price=parse_price(item.get("price")),
                currency=_text(item.get("currency")) or "USD",
                rating=_rating(item.get("rating")),
                url=_amazon_url(item.get("url"), asin),
                position=_position(item.get("pos"), index + 1),
            )
        )
    return products


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _rating(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        rating = float(value)
    except ValueError:
        return None
    return rating if math.isfinite(rating) and 0 <= rating <= 5 else None


def _amazon_url(value: object, asin: str) -> str:
    url = _text(value)
    if url.startswith("/"):
        return AMAZON_BASE_URL + url
    return url or f"{AMAZON_BASE_URL}/dp/{asin}"


def _position(value: object, fallback: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else fallback
