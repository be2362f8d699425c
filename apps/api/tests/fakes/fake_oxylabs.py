"""A fake Oxylabs Realtime API: the documented request and response formats, scripted failures.

    fake = FakeOxylabs(
        catalogue={"289935": [amazon_item("B000000001", price=19.99)]},
        sellers_by_query={"oxo skillet": [[FakeSeller("acme_deals")], [FakeSeller("bob-shop")]]},
    )
    fake.fail(OxylabsFault.rate_limited(retry_after="7", times=1), key=amazon_key("289935"))
    async with serve_fake(fake) as base_url:
        ...  # point OXYLABS_BASE_URL at base_url + QUERIES_PATH
    assert fake.requests[amazon_key("289935")] == 2

`sellers_by_query[query]` lists the result pages of that search, one list of sellers per page; a
next-page link is rendered while more pages follow. eBay pages use the current card layout unless
`layout` asks for another: "list" (s-item with s-item__seller-info-text), "etrs" (s-item with the
seller in s-item__etrs-text), or "unknown" (listings whose seller line no parser knows). A seller
marked `unreadable` is shown in that unknown markup whatever the page's layout (a partial page). Like eBay,
the fake shows gallery view (no seller lines) to a URL that does not ask for list view (`_dmd=1`)
when `default_view="gallery"`.

Faults, the request log and serving come from tests/fakes/faulty_upstream.py: `requests` counts
authorised, well-formed requests per item key (faulted ones included), `received` keeps their
bodies in arrival order, and `unauthorized` counts the 401s. `reset()` also restores the layout
and the listing prices.
"""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal, TypeAlias
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.faulty_upstream import Fault, FaultyUpstream, basic_auth_matches

QUERIES_PATH = "/v1/queries"
EBAY_SEARCH_PREFIX = "https://www.ebay.com/sch/i.html"

ItemKey: TypeAlias = tuple[str, str] | tuple[str, str, int]
Layout = Literal["card", "list", "etrs", "unknown"]
View = Literal["list", "gallery"]

BLOCK_PAGE = (
    "<html><head><title>Pardon Our Interruption</title></head><body><h1>Pardon Our Interruption</h1></body></html>"
)


def amazon_key(node_id: str) -> ItemKey:
    return ("amazon", node_id)


def ebay_key(query: str, page: int) -> ItemKey:
    return ("ebay", query, page)


def amazon_item(
    asin: str,
    *,
    title: str | None = None,
    price: object = 19.99,
    currency: str = "USD",
    rating: object = 4.5,
    pos: int = 1,
    url: str | None = None,
) -> dict[str, object]:
    """One entry of `content.results` as the amazon_bestsellers parser returns it."""
    return {
        "asin": asin,
        "title": title if title is not None else f"Product {asin}",
        "price": price,
        "currency": currency,
        "rating": rating,
        "pos": pos,
        "url": url if url is not None else f"/Product-{asin}/dp/{asin}",
        "is_prime": True,
        "ratings_count": 1234,
    }


@dataclass(frozen=True)
class FakeSeller:
    username: str
    feedback_count: int = 1234
    feedback_percent: str = "99.5"
    # Top Rated sellers are shown as one "name 99.5% positive (1.2K)" span in a badge container.
    top_rated: bool = False
    item_id: str | None = None
    # Shown to a person, but in markup no parser knows (as the "unknown" layout shows every seller).
    unreadable: bool = False


def card_feedback_count(count: int) -> str:
    """How the card layout abbreviates a count: 460, 1.2K, 19K, 1.5M."""
    for limit, suffix in ((1_000_000, "M"), (1_000, "K")):
        if count >= limit:
            short = (Decimal(count) / limit).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
            text = str(short)
            return (text[:-2] if text.endswith(".0") else text) + suffix
    return str(count)


def shown_feedback_count(count: int, layout: Layout = "card") -> int:
    """The count a reader of the page can recover: the card layout loses precision above 999."""
    if layout == "list":
        return count
    text = card_feedback_count(count)
    multiplier = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    number = text[:-1] if multiplier > 1 else text
    return int(Decimal(number) * multiplier)


# A 200 that is broken: a body that is not JSON, no `results`, an empty `results`, or a block page as content.
Malformed = Literal["invalid_json", "missing_results", "empty_results", "not_search_page"]


class OxylabsFault(Fault):
    """A fault of the Oxylabs fake: the shared kinds, plus the malformed answers only Oxylabs gives."""

    @classmethod
    def malformed(cls, how: Malformed, *, times: int | None = None) -> OxylabsFault:
        return cls(how, times=times)


class FakeOxylabs(FaultyUpstream[ItemKey]):
    def __init__(
        self,
        *,
        username: str = "fake-user",
        password: str = "fake-pass",
        catalogue: Mapping[str, Sequence[Mapping[str, object]]] | None = None,
        sellers_by_query: Mapping[str, Sequence[Sequence[FakeSeller]]] | None = None,
        layout: Layout = "card",
        default_view: View = "list",
    ) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.catalogue = {node: [dict(item) for item in items] for node, items in (catalogue or {}).items()}
        self.sellers_by_query = {
            query: [list(page) for page in pages] for query, pages in (sellers_by_query or {}).items()
        }
        self.layout: Layout = layout
        self._initial_layout: Layout = layout
        self.default_view: View = default_view
        # Set: every listing shows this price instead of one inside the searched window.
        self.listing_price: Decimal | None = None
        self.app = Starlette(routes=[Route(QUERIES_PATH, self._queries, methods=["POST"])])

    def settings(self, base_url: str) -> dict[str, Any]:
        """App settings that send the Oxylabs provider to this fake, served at `base_url`."""
        return {
            "provider": "oxylabs",
            "oxylabs_username": self.username,
            "oxylabs_password": self.password,
            "oxylabs_base_url": base_url + QUERIES_PATH,
        }

    def reset(self) -> None:
        super().reset()
        self.layout = self._initial_layout
        self.listing_price = None

    async def _queries(self, request: Request) -> Response:
        if not basic_auth_matches(request.headers.get("authorization", ""), self.username, self.password):
            self.unauthorized += 1
            return JSONResponse({"message": "Unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Basic"})
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"message": "Invalid JSON in request body"}, status_code=400)
        if not isinstance(payload, dict):
            return JSONResponse({"message": "Request body must be an object"}, status_code=400)
        try:
            key = _item_key(payload)
        except ValueError as exc:
            return JSONResponse({"message": str(exc)}, status_code=400)
        self._record(key, payload)
        fault, early = await self._misbehave(key, request)
        if early is not None:
            return early
        content: object = self._amazon(key) if key[0] == "amazon" else self._ebay(payload["url"])
        if fault is not None and fault.kind == "not_search_page":
            content = BLOCK_PAGE
        return JSONResponse(
            {
                "results": [
                    {
                        "content": content,
                        "created_at": "2026-01-01 00:00:00",
                        "updated_at": "2026-01-01 00:00:02",
                        "page": 1,
                        "url": payload.get("url", ""),
                        "job_id": str(uuid.uuid4().int)[:19],
                        "status_code": 200,
                    }
                ]
            }
        )

    def _rate_limited(self, headers: dict[str, str] | None) -> Response:
        return JSONResponse({"message": "Too many requests"}, status_code=429, headers=headers)

    def _server_error(self, status: int) -> Response:
        return JSONResponse({"message": "Internal server error"}, status_code=status)

    def _special(self, fault: Fault, request: Request) -> Response | None:
        if fault.kind == "invalid_json":
            return Response('{"results": [{"content": ', media_type="application/json")
        if fault.kind == "missing_results":
            return JSONResponse({"job": {"id": "1", "status": "done"}})
        if fault.kind == "empty_results":
            return JSONResponse({"results": []})
        return None

    def _amazon(self, key: ItemKey) -> dict[str, object]:
        node_id = key[1]
        items = self.catalogue.get(node_id, [])
        return {
            "url": f"https://www.amazon.com/gp/bestsellers/{node_id}",
            "page": 1,
            "pages": 1,
            "query": node_id,
            "results": items,
            "parse_status_code": 12000,
        }

    def _ebay(self, url: str) -> str:
        params = parse_qs(urlsplit(url).query)
        query = params["_nkw"][0]
        page = int(params["_pgn"][0])
        pages = self.sellers_by_query.get(query, [])
        sellers = pages[page - 1] if page <= len(pages) else []
        next_url = None
        if page < len(pages):
            next_params = {name: values[0] for name, values in params.items()} | {"_pgn": str(page + 1)}
            next_url = f"{EBAY_SEARCH_PREFIX}?{urlencode(next_params)}"
        price = self.listing_price if self.listing_price is not None else _listing_price(params)
        view = {"1": "list", "2": "gallery"}.get(params.get("_dmd", [""])[0], self.default_view)
        if view == "gallery":
            return render_search_page(query, sellers, next_url=next_url, price=price, gallery=True)
        return render_search_page(query, sellers, next_url=next_url, price=price, layout=self.layout)


def _item_key(payload: Mapping[str, Any]) -> ItemKey:
    source = payload.get("source")
    if source == "amazon_bestsellers":
        query = payload.get("query")
        if not isinstance(query, str) or not query:
            raise ValueError("`query` must be a browse node id")
        if payload.get("domain") != "com" or payload.get("parse") is not True:
            raise ValueError("amazon_bestsellers needs domain=com and parse=true here")
        return amazon_key(query)
    if source == "universal_ecommerce":
        url = payload.get("url")
        if not isinstance(url, str) or not url.startswith(EBAY_SEARCH_PREFIX + "?"):
            raise ValueError("`url` must be an eBay search URL")
        params = parse_qs(urlsplit(url).query)
        try:
            return ebay_key(params["_nkw"][0], int(params["_pgn"][0]))
        except (KeyError, ValueError) as exc:
            raise ValueError("the eBay URL needs _nkw and a numeric _pgn") from exc
    raise ValueError(f"Unsupported source: {source!r}")


def _listing_price(params: Mapping[str, list[str]]) -> Decimal:
    try:
        low = Decimal(params["_udlo"][0])
        high = Decimal(params["_udhi"][0])
    except (KeyError, InvalidOperation):
        return Decimal("49.99")
    return ((low + high) / 2).quantize(Decimal("0.01"))


def render_search_page(
    query: str,
    sellers: Sequence[FakeSeller],
    *,
    next_url: str | None = None,
    price: Decimal = Decimal("49.99"),
    layout: Layout = "card",
    gallery: bool = False,
) -> str:
    """An eBay search-results page shaped like the real one (only the parts a parser could rely on).

    `gallery` renders gallery view: cards in `ul.srp-results.srp-grid` without any seller line.
    """
    render = _RENDERERS["gallery" if gallery else layout]
    items = [_placeholder("card" if gallery else layout)] + [
        (_unknown_item if seller.unreadable and not gallery else render)(query, seller, index, price)
        for index, seller in enumerate(sellers)
    ]
    results_class = "srp-results srp-grid clearfix" if gallery else "srp-results srp-list clearfix"
    heading = (
        f'<h1 class="srp-controls__count-heading"><span class="BOLD">{len(sellers)}</span> results for '
        f'<span class="BOLD">{html.escape(query)}</span></h1>'
    )
    null_search = "" if sellers else '<div class="srp-save-null-search"><h3>No exact matches found</h3></div>'
    return (
        f"<!DOCTYPE html><html><head><title>{html.escape(query)} | eBay</title></head><body>"
        f'<div class="srp-controls">{heading}</div>{null_search}'
        f'<div id="srp-river-results" class="srp-river-results clearfix">'
        f'<ul class="{results_class}">{"".join(items)}</ul></div>'
        f"{_pagination(next_url)}</body></html>"
    )


def _item_id(seller: FakeSeller, index: int) -> str:
    return seller.item_id or str(300000000000 + sum(map(ord, seller.username)) * 1000 + index)


def _placeholder(layout: Layout) -> str:
    if layout == "card":
        return (
            '<li class="s-card s-card--horizontal" data-listingid="123456"><a class="s-card__link" '
            'href="https://ebay.com/itm/123456"><div role="heading" aria-level="3" class="s-card__title">'
            '<span class="su-styled-text primary default">Shop on eBay</span></div></a>'
            '<div class="s-card__attribute-row"><span class="su-styled-text primary bold large-1 s-card__price">'
            "$20.00</span></div></li>"
        )
    return (
        '<li class="s-item s-item__pl-on-bottom"><div class="s-item__wrapper clearfix"><div class="s-item__info '
        'clearfix"><a class="s-item__link" href="https://ebay.com/itm/123456"><div class="s-item__title">'
        '<span role="heading" aria-level="3">Shop on eBay</span></div></a></div></div></li>'
    )


def _card(query: str, seller: FakeSeller, index: int, price: Decimal) -> str:
    item_id = _item_id(seller, index)
    name = html.escape(seller.username)
    feedback = f"{seller.feedback_percent}% positive ({card_feedback_count(seller.feedback_count)})"
    if seller.top_rated:
        seller_block = (
            '<div class="s-card__program-badge-container s-card__program-badge-container--sellerOrStoreInfo">'
            f'<span class="su-styled-text primary large">{name} {feedback}</span></div>'
        )
    else:
        seller_block = (
            '<div class="s-card__attribute-row">'
            f'<span class="su-styled-text primary large">{name} </span>'
            f'<span class="su-styled-text primary large">{feedback}</span></div>'
        )
    return (
        f'<li class="s-card s-card--horizontal" data-listingid="{item_id}">'
        '<div class="su-card-container su-card-container--horizontal"><div class="su-card-container__content">'
        '<div class="su-card-container__header">'
        f'<a class="su-link s-card__link" href="https://www.ebay.com/itm/{item_id}?_skw=x&amp;hash=item{index:x}">'
        '<div role="heading" aria-level="3" class="s-card__title">'
        f'<span class="su-styled-text primary default">{html.escape(query)} - Brand New</span>'
        '<span class="clipped">Opens in a new window or tab</span></div></a>'
        '<div class="s-card__subtitle-row"><div class="s-card__subtitle">'
        '<span class="su-styled-text secondary default">Brand New</span></div></div></div>'
        '<div class="su-card-container__attributes su-card-container__attributes--has-secondary">'
        '<div class="su-card-container__attributes__primary">'
        '<div class="s-card__attribute-row">'
        f'<span class="su-styled-text primary bold large-1 s-card__price">${price}</span></div>'
        '<div class="s-card__attribute-row"><span class="su-styled-text secondary large">Free delivery</span></div>'
        '<div class="s-card__attribute-row"><span class="su-styled-text secondary large">'
        "Located in United States</span></div></div>"
        f'<div class="su-card-container__attributes__secondary">{seller_block}</div>'
        "</div></div></div></li>"
    )


def _gallery_card(query: str, seller: FakeSeller, index: int, price: Decimal) -> str:
    # Gallery cards end with the sold count or a Top Rated badge; the seller is not on the page.
    card = _card(query, seller, index, price)
    start = card.index('<div class="su-card-container__attributes__secondary">')
    badge = (
        '<div class="su-card-container__attributes__secondary"><div class="s-card__attribute-row">'
        '<div class="s-card__program-badge-container s-card__program-badge-container--topRatedSeller"></div>'
        "</div></div>"
    )
    return card[:start] + badge + "</div></div></div></li>"


def _list_item(query: str, seller: FakeSeller, index: int, price: Decimal, *, seller_html: str | None = None) -> str:
    item_id = _item_id(seller, index)
    info = f"{html.escape(seller.username)} ({seller.feedback_count:,}) {seller.feedback_percent}%"
    if seller_html is None:
        seller_html = (
            '<span class="s-item__detail s-item__detail--secondary"><span class="s-item__seller-info">'
            f'<span class="s-item__seller-info-text">{info}</span></span></span>'
        )
    return (
        f'<li class="s-item s-item__pl-on-bottom" id="item{index:x}"><div class="s-item__wrapper clearfix">'
        '<div class="s-item__info clearfix">'
        f'<a class="s-item__link" href="https://www.ebay.com/itm/{item_id}?hash=item{index:x}">'
        f'<div class="s-item__title"><span role="heading" aria-level="3">{html.escape(query)} - Brand New</span>'
        '</div></a><div class="s-item__subtitle"><span class="SECONDARY_INFO">Brand New</span></div>'
        '<div class="s-item__details clearfix"><div class="s-item__detail s-item__detail--primary">'
        f'<span class="s-item__price">${price}</span></div>'
        '<div class="s-item__detail s-item__detail--primary"><span class="s-item__shipping s-item__logisticsCost">'
        f"Free shipping</span></div>{seller_html}</div></div></div></li>"
    )


def _etrs_item(query: str, seller: FakeSeller, index: int, price: Decimal) -> str:
    """Mid-2025: the seller in the trust line, as two PRIMARY spans (Top Rated sellers get a badge first)."""
    feedback = f"{seller.feedback_percent}% positive ({card_feedback_count(seller.feedback_count)})"
    badge = '<span class="s-item__etrs-badge clipped">Top Rated Seller</span>' if seller.top_rated else ""
    seller_html = (
        '<div class="s-item__detail s-item__detail--secondary"><span class="s-item__etrs">'
        f'{badge}<span class="s-item__etrs-text"><span class="PRIMARY">{html.escape(seller.username)} </span>'
        f'<span class="PRIMARY">{feedback}</span></span></span></div>'
    )
    return _list_item(query, seller, index, price, seller_html=seller_html)


def _unknown_item(query: str, seller: FakeSeller, index: int, price: Decimal) -> str:
    """A layout no parser has seen: the seller is there for a person, in markup nobody knows."""
    seller_html = (
        f'<div class="s-item__vendor"><b>{html.escape(seller.username)}</b> '
        f"<i>{seller.feedback_percent}</i> <i>{seller.feedback_count}</i></div>"
    )
    return _list_item(query, seller, index, price, seller_html=seller_html)


_RENDERERS: dict[str, Callable[[str, FakeSeller, int, Decimal], str]] = {
    "card": _card,
    "list": _list_item,
    "etrs": _etrs_item,
    "unknown": _unknown_item,
    "gallery": _gallery_card,
}


def _pagination(next_url: str | None) -> str:
    if next_url is None:
        # The last page keeps the arrow, disabled.
        arrow = (
            '<button class="pagination__next icon-btn" type="next" aria-disabled="true" '
            'aria-label="Go to next search page"></button>'
        )
    else:
        arrow = (
            f'<a class="pagination__next icon-link" href="{html.escape(next_url)}" type="next" '
            'aria-label="Go to next search page"></a>'
        )
    return f'<nav class="pagination" role="navigation" aria-label="Results Pagination">{arrow}</nav>'
