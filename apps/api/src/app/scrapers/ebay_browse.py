"""The official eBay Browse API as the provider of the eBay phase.

`GET /buy/browse/v1/item_summary/search` answers with structured sellers (`seller.username`,
`feedbackPercentage`, `feedbackScore`) and 200 listings per request, where the HTML route needs up
to three paid page loads. Authentication is an application token from the OAuth
client-credentials grant, minted once and reused until five minutes before it expires (eBay
allows 1,000 mints a day). Like every provider, nothing here retries or sleeps: failures become
`UpstreamError` / `RateLimited` and the pipeline decides.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from app.config import Settings
from app.errors import RateLimited, UpstreamError
from app.scrapers.base import EbayListing, EbaySearchPage, EbaySeller, PriceWindow
from app.scrapers.prices import parse_price
from app.scrapers.upstream_http import credentials, json_client, parse_retry_after

logger = logging.getLogger(__name__)

TOKEN_PATH = "/identity/v1/oauth2/token"
SEARCH_PATH = "/buy/browse/v1/item_summary/search"
SCOPE = "https://api.ebay.com/oauth/api_scope"
MARKETPLACE_ID = "EBAY_US"
MAX_QUERY_CHARS = 100  # eBay truncates `q` there; sending it cut keeps the feed honest
# eBay's own client treats a token as expired five minutes early.
TOKEN_EARLY_EXPIRY_SECONDS = 300.0


def browse_filter(window: PriceWindow) -> str:
    """The reseller filter: Brand New, priced within `window` in USD, shipped free inside the US from the US."""
    return (
        f"conditions:{{NEW}},price:[{window.low:.2f}..{window.high:.2f}],priceCurrency:USD,"
        "deliveryCountry:US,itemLocationCountry:US,maxDeliveryCost:0"
    )


class _AppToken:
    """The application access token, minted on first use and shared until shortly before it expires."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        credentials: httpx.BasicAuth,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._url = url
        self._credentials = credentials
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.mints = 0

    async def get(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                self._token, lifetime = await self._mint()
                self._expires_at = self._clock() + max(0.0, lifetime - TOKEN_EARLY_EXPIRY_SECONDS)
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` (eBay refused it); a newer one minted meanwhile is kept."""
        if self._token == token:
            self._token = None

    async def _mint(self) -> tuple[str, float]:
        try:
            response = await self._client.post(
                self._url,
                data={"grant_type": "client_credentials", "scope": SCOPE},
                auth=self._credentials,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except httpx.TimeoutException as exc:
            raise UpstreamError("eBay OAuth did not answer in time", error_type="timeout") from exc
        except httpx.RequestError as exc:
            raise UpstreamError(f"could not reach eBay OAuth ({type(exc).__name__})", error_type="network") from exc
        self.mints += 1
        body = _json_object(response)
        if response.status_code == 429:
            raise RateLimited(
                "eBay OAuth answered HTTP 429", retry_after=parse_retry_after(response.headers.get("Retry-After"))
            )
        if response.status_code >= 500:
            raise UpstreamError(f"eBay OAuth answered HTTP {response.status_code}", error_type="http_error")
        if response.status_code != 200:
            error = body.get("error") if body else None
            description = body.get("error_description") if body else None
            detail = f"eBay OAuth refused the application credentials (HTTP {response.status_code}"
            detail += f": {error}" if isinstance(error, str) else ""
            detail += f", {description[:200]}" if isinstance(description, str) else ""
            raise UpstreamError(detail + "); check EBAY_CLIENT_ID and EBAY_CLIENT_SECRET", error_type="auth")
        token = body.get("access_token") if body else None
        lifetime = body.get("expires_in") if body else None
        if not isinstance(token, str) or not token:
            raise UpstreamError("eBay OAuth answered without an access_token", error_type="parse_error")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or not math.isfinite(lifetime):
            lifetime = 0.0  # unknown lifetime: use it for this request only
        return token, float(lifetime)


class EbayBrowseSearch:
    """`EbaySearch` over the Browse API; one `httpx.AsyncClient` for the provider's life."""

    name: str = "ebay_api"

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout_seconds: float = 30.0,
    ) -> None:
        client_id, secret = credentials(
            settings.ebay_client_id,
            settings.ebay_client_secret,
            missing="The ebay_api provider needs EBAY_CLIENT_ID and EBAY_CLIENT_SECRET (an eBay application keyset)",
        )
        base = settings.ebay_base_url.rstrip("/")
        self._search_url = base + SEARCH_PATH
        self._page_size = settings.ebay_api_page_size
        self._client = json_client(transport=transport, timeout_seconds=timeout_seconds)
        self._token = _AppToken(self._client, base + TOKEN_PATH, httpx.BasicAuth(client_id, secret), clock)

    @property
    def token_mints(self) -> int:
        return self._token.mints

    async def aclose(self) -> None:
        await self._client.aclose()

    async def search_sellers(
        self, query: str, window: PriceWindow, page: int, *, list_view_forced: bool = False
    ) -> EbaySearchPage:
        # `list_view_forced` means nothing here: the API has no views, only structured data.
        if page < 1:
            raise ValueError(f"eBay pages start at 1, not {page}")
        params = {
            "q": query.strip()[:MAX_QUERY_CHARS],
            "filter": browse_filter(window),
            "limit": str(self._page_size),
            "offset": str((page - 1) * self._page_size),
        }
        url = str(httpx.URL(self._search_url, params=params))
        if window.low >= window.high:
            return EbaySearchPage(sellers=[], has_more=False, url=url, listings_in_window=0)
        token = await self._token.get()
        try:
            response = await self._client.get(
                self._search_url,
                params=params,
                headers={"Authorization": f"Bearer {token}", "X-EBAY-C-MARKETPLACE-ID": MARKETPLACE_ID},
            )
        except httpx.TimeoutException as exc:
            raise UpstreamError("the eBay Browse API did not answer in time", error_type="timeout") from exc
        except httpx.RequestError as exc:
            raise UpstreamError(
                f"could not reach the eBay Browse API ({type(exc).__name__})", error_type="network"
            ) from exc
        body = _json_object(response)
        if response.status_code != 200:
            if response.status_code == 401:
                self._token.invalidate(token)
            raise _search_error(response, body)
        if body is None:
            raise UpstreamError("malformed response: the body is not a JSON object", error_type="parse_error")
        _log_warnings(body)
        return page_from_body(body, window, url)


def page_from_body(body: Mapping[str, Any], window: PriceWindow, url: str) -> EbaySearchPage:
    """An `EbaySearchPage` from a `SearchPagedCollection` (no `itemSummaries` key means no match)."""
    items = body.get("itemSummaries", [])
    if not isinstance(items, list):
        raise UpstreamError("malformed response: itemSummaries is not a list", error_type="parse_error")
    sellers: list[EbaySeller] = []
    listings: list[EbayListing] = []
    seen: set[str] = set()
    in_window = 0
    for item in items:
        if not isinstance(item, dict):
            continue
        price = item.get("price")
        amount = parse_price(price.get("value")) if isinstance(price, dict) else None
        if amount is not None and window.low <= amount <= window.high:
            in_window += 1
        seller = _seller(item)
        listings.append(_listing(item, amount, seller))
        if seller is not None and seller.username.casefold() not in seen:
            seen.add(seller.username.casefold())
            sellers.append(seller)
    return EbaySearchPage(
        sellers=sellers,
        has_more=isinstance(body.get("next"), str) and bool(body.get("next")),
        url=url,
        listings_in_window=in_window,
        listings=listings,
    )


def _listing(item: Mapping[str, Any], amount: Decimal | None, seller: EbaySeller | None) -> EbayListing:
    """The same evidence the HTML parser reads, from the structured summary."""
    price, location = item.get("price"), item.get("itemLocation")
    currency = price.get("currency") if isinstance(price, dict) else None
    country = location.get("country") if isinstance(location, dict) else None
    title = item.get("title")
    return EbayListing(
        item_id=_legacy_item_id(item),
        title=title.strip() if isinstance(title, str) else "",
        price=amount,
        currency=currency if isinstance(currency, str) and currency else None,
        url=_web_url(item.get("itemWebUrl")),
        seller=seller,
        location=country if isinstance(country, str) and country else None,
    )


def _legacy_item_id(item: Mapping[str, Any]) -> str | None:
    # `itemId` is "v1|<legacy id>|<variation>"; `legacyItemId` only comes with some field groups.
    legacy = item.get("legacyItemId")
    if isinstance(legacy, str) and legacy.isdigit():
        return legacy
    item_id = item.get("itemId")
    parts = item_id.split("|") if isinstance(item_id, str) else []
    return parts[1] if len(parts) == 3 and parts[1].isdigit() else None


def _web_url(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    # Tracking parameters make the same listing look different on every answer.
    parts = urlsplit(value)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _seller(item: Mapping[str, Any]) -> EbaySeller | None:
    seller = item.get("seller")
    if not isinstance(seller, dict):
        return None
    username = seller.get("username")
    if not isinstance(username, str) or not username.strip():
        return None
    score = seller.get("feedbackScore")
    return EbaySeller(
        username=username.strip(),
        feedback_count=score if isinstance(score, int) and not isinstance(score, bool) and score >= 0 else None,
        feedback_percent=_percentage(seller.get("feedbackPercentage")),
        item_url=_web_url(item.get("itemWebUrl")),
    )


def _percentage(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        percent = Decimal(str(value))
    except InvalidOperation:
        return None
    return percent if percent.is_finite() and 0 <= percent <= 100 else None


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _first_error(body: Mapping[str, Any] | None) -> tuple[int | None, str | None]:
    errors = body.get("errors") if body else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, None
    error_id = errors[0].get("errorId")
    message = errors[0].get("message")
    return (
        error_id if isinstance(error_id, int) else None,
        message[:200] if isinstance(message, str) else None,
    )


def _search_error(response: httpx.Response, body: Mapping[str, Any] | None) -> UpstreamError:
    status = response.status_code
    error_id, message = _first_error(body)
    what = f"eBay Browse API answered HTTP {status}"
    if error_id is not None:
        what += f" (error {error_id}{': ' + message if message else ''})"
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is None:
            # eBay documents no Retry-After; its 429 (error 2001) means the daily call limit is spent,
            # which no wait within a run will fix.
            return UpstreamError(
                what + ": the application's daily Browse API call limit is used up", error_type="quota"
            )
        return RateLimited(what, retry_after=retry_after)
    if status == 401:
        return UpstreamError(what + "; a new application token will be minted", error_type="http_error")
    if status == 403:
        return UpstreamError(what + "; check the keyset's access to the Buy APIs", error_type="auth")
    if status >= 500:
        return UpstreamError(what, error_type="http_error")
    return UpstreamError(what, error_type="bad_request")


def _log_warnings(body: Mapping[str, Any]) -> None:
    warnings = body.get("warnings")
    if isinstance(warnings, list) and warnings:
        ids = [w.get("errorId") for w in warnings if isinstance(w, dict)]
        logger.warning("eBay Browse API search answered with warnings %s", ids)
