"""A fake eBay Browse API and OAuth token endpoint, speaking the documented formats.

    fake = FakeEbayBrowse(sellers_by_query={"oxo whisk": [FakeSeller("acme_deals"), ...]})
    fake.fail(BrowseFault.rate_limited(retry_after="2", times=1))
    async with serve_fake(fake) as base_url:
        ...  # EBAY_BASE_URL=base_url
    assert fake.filter_violations == []

- `POST /identity/v1/oauth2/token`: client-credentials grant, Basic auth, form body; answers
  `{"access_token", "expires_in", "token_type": "Application Access Token"}` or
  `{"error": "invalid_client", ...}` / `invalid_scope`.
- `GET /buy/browse/v1/item_summary/search`: Bearer token (401 / errorId 1001 when unknown or
  expired), `q`, `limit` 1-200, `offset` a multiple of `limit` below 10,000, and the `filter` this
  project must send, checked on every request: any difference is recorded in `filter_violations`
  and answered like eBay answers a bad filter value (HTTP 200 with warning 12002).
  The body is a `SearchPagedCollection` whose items have the shape of recorded live answers
  (tests/fixtures/ebay_browse); no match has no `itemSummaries` key.
- Errors use eBay's `{"errors": [{errorId, domain, category, message, ...}]}`.

Faults, the request log (by `q`) and serving come from tests/fakes/faulty_upstream.py.
`sellers_by_query[q]` lists the listings of a search in result order, one seller per listing;
`default_sellers(q)` answers queries not in it (so a whole collection run finds sellers).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.fake_oxylabs import FakeSeller
from tests.fakes.faulty_upstream import Fault, FaultyUpstream, basic_auth_matches

TOKEN_PATH = "/identity/v1/oauth2/token"
SEARCH_PATH = "/buy/browse/v1/item_summary/search"
SCOPE = "https://api.ebay.com/oauth/api_scope"
PUBLIC_BASE = "https://api.ebay.com"

EXPECTED_FILTER = re.compile(
    r"conditions:\{NEW\},price:\[(\d+\.\d{2})\.\.(\d+\.\d{2})\],priceCurrency:USD,"
    r"deliveryCountry:US,itemLocationCountry:US,maxDeliveryCost:0"
)


class BrowseFault(Fault):
    """A fault of the Browse fake: the shared kinds, worded as eBay words them, plus a refused token."""

    @classmethod
    def quota(cls, *, times: int | None = None) -> BrowseFault:
        """The daily call limit: 429 with error 2001 and no Retry-After."""
        return cls.rate_limited(retry_after=None, times=times)

    @classmethod
    def expired_token(cls, *, times: int | None = None) -> BrowseFault:
        """Reject the (otherwise valid) token once, as eBay does when it expired early."""
        return cls("expired_token", times=times)


def error_body(error_id: int, message: str, *, domain: str = "API_BROWSE", category: str = "REQUEST") -> dict[str, Any]:
    return {
        "errors": [
            {
                "errorId": error_id,
                "domain": domain,
                "category": category,
                "message": message,
                "longMessage": message,
            }
        ]
    }


def default_sellers(query: str) -> list[FakeSeller]:
    """Three to five listings for any query, from a pool of 30 sellers shared across queries.

    A seller's feedback is the same on every listing, so what a run stores does not depend on order.
    """
    seed = sum(map(ord, query))
    picks = [(seed + 7 * k) % 30 for k in range(3 + seed % 3)]
    return [FakeSeller(f"api_seller_{n:02d}", feedback_count=50 + 37 * n, feedback_percent="99.2") for n in picks]


@dataclass
class FakeEbayBrowse(FaultyUpstream[str]):
    """Requests are logged and faults scripted by query (`q`); `received` holds their query parameters."""

    client_id: str = "fake-app-id"
    client_secret: str = "fake-cert-id"
    token_lifetime: int = 7200
    sellers_by_query: Mapping[str, Sequence[FakeSeller]] = field(default_factory=dict)
    fallback: Callable[[str], list[FakeSeller]] | None = default_sellers
    clock: Callable[[], float] = time.monotonic
    mints: int = 0
    filter_violations: list[str] = field(default_factory=list)
    # itemWebUrl by legacy item id, where a test needs another one than eBay's canonical address.
    web_urls: Mapping[str, str] = field(default_factory=dict)
    _tokens: dict[str, float] = field(default_factory=dict)
    _serial: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        super().__init__()
        self.app = Starlette(
            routes=[Route(TOKEN_PATH, self._token, methods=["POST"]), Route(SEARCH_PATH, self._search, methods=["GET"])]
        )

    def settings(self, base_url: str) -> dict[str, Any]:
        """App settings that send the eBay phase to this fake's Browse API, served at `base_url`."""
        return {
            "ebay_provider": "ebay_api",
            "ebay_client_id": self.client_id,
            "ebay_client_secret": self.client_secret,
            "ebay_base_url": base_url,
        }

    def reset(self) -> None:
        super().reset()
        self.filter_violations.clear()
        self.mints = 0

    def expire_all_tokens(self) -> None:
        self._tokens.clear()

    # --- OAuth ----------------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return JSONResponse(
                {"error": "invalid_request", "error_description": "request is missing a required parameter"},
                status_code=400,
            )
        if not basic_auth_matches(request.headers.get("authorization", ""), self.client_id, self.client_secret):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "client authentication failed"}, status_code=401
            )
        form = {key: values[0] for key, values in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return JSONResponse(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type in request is not supported by the authorization server",
                },
                status_code=400,
            )
        if form.get("scope") != SCOPE:
            return JSONResponse(
                {
                    "error": "invalid_scope",
                    "error_description": (
                        "The requested scope is invalid, unknown, malformed, or exceeds the scope granted to the client"
                    ),
                },
                status_code=400,
            )
        self.mints += 1
        token = f"v^1.1#i^1#p^1#r^0#I^3#f^0#t^fake-{next(self._serial)}"
        self._tokens[token] = self.clock() + self.token_lifetime
        return JSONResponse(
            {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Application Access Token"}
        )

    # --- search ---------------------------------------------------------------------------------

    async def _search(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return JSONResponse(error_body(1002, "Missing access token", domain="OAuth"), status_code=400)
        expires = self._tokens.get(token)
        if expires is None or self.clock() >= expires:
            self.unauthorized += 1
            return JSONResponse(error_body(1001, "Invalid access token", domain="OAuth"), status_code=401)
        params = dict(request.query_params)
        query = params.get("q", "")
        self._record(query, params)
        _, early = await self._misbehave(query, request)
        if early is not None:
            return early
        if not query:
            return JSONResponse(
                error_body(12001, "The call must have a valid 'q', 'category_ids', 'epid' or 'gtin' query parameter."),
                status_code=400,
            )
        try:
            limit = int(params.get("limit", "50"))
            offset = int(params.get("offset", "0"))
        except ValueError:
            return JSONResponse(
                error_body(12006, "The 'limit' value should be between 1 and 200 (inclusive)."), status_code=400
            )
        if not 1 <= limit <= 200:
            return JSONResponse(
                error_body(12006, "The 'limit' value should be between 1 and 200 (inclusive)."), status_code=400
            )
        if offset >= 10_000:
            return JSONResponse(error_body(12029, "The 'offset' value must be less than 10,000."), status_code=400)
        if offset < 0 or offset % limit:
            return JSONResponse(
                error_body(12515, "The 'offset' value must be 0 or a multiple of 'limit'."), status_code=400
            )
        warnings: list[dict[str, Any]] = []
        match = EXPECTED_FILTER.fullmatch(params.get("filter", ""))
        if match is None or Decimal(match.group(1)) >= Decimal(match.group(2)):
            self.filter_violations.append(params.get("filter", "<none>"))
            warnings = error_body(12002, "The 'filter' value is invalid.")["errors"]
            low, high = Decimal("0.00"), Decimal("100.00")
        else:
            low, high = Decimal(match.group(1)), Decimal(match.group(2))
        sellers = list(self.sellers_by_query.get(query, self.fallback(query) if self.fallback else []))
        return JSONResponse(self._page(query, sellers, limit, offset, (low + high) / 2, warnings))

    def _page(
        self,
        query: str,
        sellers: list[FakeSeller],
        limit: int,
        offset: int,
        price: Decimal,
        warnings: list[dict[str, Any]],
    ) -> dict[str, Any]:
        def href(at: int) -> str:
            return f"{PUBLIC_BASE}{SEARCH_PATH}?{urlencode({'q': query, 'limit': limit, 'offset': at})}"

        body: dict[str, Any] = {"href": href(offset), "total": len(sellers), "limit": limit, "offset": offset}
        chunk = sellers[offset : offset + limit]
        if chunk:
            body["itemSummaries"] = [self._item(query, seller, offset + i, price) for i, seller in enumerate(chunk)]
        if offset + limit < len(sellers):
            body["next"] = href(offset + limit)
        if offset > 0:
            body["prev"] = href(max(0, offset - limit))
        if warnings:
            body["warnings"] = warnings
        return body

    def _item(self, query: str, seller: FakeSeller, index: int, price: Decimal) -> dict[str, Any]:
        legacy = seller.item_id or str(300000000000 + sum(map(ord, seller.username)) * 100 + index)
        value = str(price.quantize(Decimal("0.01")))
        return {
            "itemId": f"v1|{legacy}|0",
            "title": f"{query[:60]} - Brand New",
            "leafCategoryIds": ["20625"],
            "categories": [{"categoryId": "20625", "categoryName": "Kitchen, Dining & Bar"}],
            "image": {"imageUrl": f"https://i.ebayimg.com/thumbs/images/g/{legacy}/s-l225.jpg"},
            "price": {"value": value, "currency": "USD"},
            "itemHref": f"{PUBLIC_BASE}/buy/browse/v1/item/v1%7C{legacy}%7C0",
            "seller": {
                "username": seller.username,
                "feedbackPercentage": seller.feedback_percent,
                "feedbackScore": seller.feedback_count,
            },
            "condition": "New",
            "conditionId": "1000",
            "shippingOptions": [{"shippingCostType": "FIXED", "shippingCost": {"value": "0.00", "currency": "USD"}}],
            "buyingOptions": ["FIXED_PRICE"],
            "itemWebUrl": self.web_urls.get(legacy, f"https://www.ebay.com/itm/{legacy}?hash=item{index:x}"),
            "itemLocation": {"postalCode": "112**", "country": "US"},
            "adultOnly": False,
            "legacyItemId": legacy,
            "itemCreationDate": "2026-01-01T00:00:00.000Z",
            "topRatedBuyingExperience": False,
            "priorityListing": False,
        }

    def _rate_limited(self, headers: dict[str, str] | None) -> Response:
        # eBay answers its daily quota (no Retry-After) and a short-term limit with the same error.
        body = error_body(
            2001, "Too many requests. The request limit has been reached for the resource.", domain="ACCESS"
        )
        return JSONResponse(body, status_code=429, headers=headers)

    def _server_error(self, status: int) -> Response:
        body = error_body(12000, "There was a problem with an eBay internal system or process.", category="APPLICATION")
        return JSONResponse(body, status_code=status)

    def _special(self, fault: Fault, request: Request) -> Response | None:
        if fault.kind == "expired_token":
            self._tokens.pop(request.headers.get("authorization", "").partition(" ")[2], None)
            self.unauthorized += 1
            return JSONResponse(error_body(1001, "Invalid access token", domain="OAuth"), status_code=401)
        return None
