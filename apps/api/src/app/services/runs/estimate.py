"""What a run would search and cost, before it exists: read from the org's search memory, priced as runs are.

Each list costs one request. A list the org has fetched before is read from its search memory
(the latest fetch of it: its products, and which of them a "new" run would search now, by the
same rule the run applies); a list never fetched is as long as the catalogue's lists usually are.
Products that entered a list since the org last fetched it are unknown until it is fetched again:
the likely figure leaves them out, the high bound allows for every product of the list being new.
Each product to search costs 1 to `ebay_pages_per_product` eBay pages; the likely figure uses the
org's recent pages per product searched on the same provider (else halfway). Nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from app.config import Settings
from app.db.pool import Pool
from app.models import CostRange, Refresh, RequestRange, RunEstimate, RunSettingsOut
from app.repositories import search_memory
from app.scrapers import demo
from app.security import Caller
from app.services.runs import lifecycle, org_settings
from app.services.runs.usage import prices_per_1000

# Products per best-seller list (fewest, most) by the provider of the Amazon phase: Amazon's first
# best-seller page lists 50; the demo's lists are 30 to 50 long.
LIST_SIZES: dict[str, tuple[int, int]] = {"demo": (demo.MIN_PRODUCTS, demo.MAX_PRODUCTS)}
AMAZON_LIST_SIZE = (50, 50)


@dataclass(frozen=True)
class _Lists:
    """The lists of a run: those the org fetched (their products) and those it never did."""

    categories: int
    fetched: int
    known: int  # products in the fetched lists
    due: int  # of those, the ones the run would search
    priced_due: int  # of those, the ones with a price (the others are skipped without a request)
    unknown: int  # lists never fetched

    def products(self, size: float) -> int:
        return self.known + round(self.unknown * size)


async def estimate(
    pool: Pool,
    settings: Settings,
    *,
    caller: Caller,
    category_ids: list[str] | None,
    preset_id: UUID | None,
    refresh: Refresh | None,
    provider: str | None = None,
) -> RunEstimate:
    """The estimate for POST /collection/runs with this body (422/404 exactly as creating it would answer).

    `provider`: the command line's choice, as `lifecycle.create_run` takes it.
    """
    async with pool.connection() as conn:
        categories, chosen = await lifecycle.resolve_target(conn, caller.org_id, category_ids, preset_id, refresh)
        org = await org_settings.load(conn, settings, org_id=caller.org_id)
        recorded = org_settings.run_settings(org, settings, provider=provider)
        known = await search_memory.known_products(
            conn, org_id=caller.org_id, category_ids=[c.id for c in categories],
            refresh_after_days=recorded.refresh_after_days, low=recorded.price_min_multiplier,
            high=recorded.price_max_multiplier,
        )  # fmt: skip
        pages_per_product = await search_memory.ebay_pages_per_search(
            conn, org_id=caller.org_id, provider=recorded.provider
        )
    lists = _lists(known, len(categories), everything=chosen == "all")
    return _priced(lists, chosen, recorded, pages_per_product, prices_per_1000(settings))


def _lists(known: list[search_memory.KnownProduct], categories: int, *, everything: bool) -> _Lists:
    fetched = len({p.category_id for p in known})
    return _Lists(
        categories=categories,
        fetched=fetched,
        known=len(known),
        due=sum(1 for p in known if everything or p.due),
        priced_due=sum(1 for p in known if p.priced and (everything or p.due)),
        unknown=categories - fetched,
    )


def _priced(
    lists: _Lists,
    refresh: Refresh,
    recorded: RunSettingsOut,
    pages_per_product: float | None,
    prices: dict[str, Decimal],
) -> RunEstimate:
    """Requests and cost: one per list, then 1 to N eBay pages per product to search (likely: the org's rate)."""
    amazon, _, ebay = recorded.provider.partition("+")
    fewest, most = LIST_SIZES.get(amazon, AMAZON_LIST_SIZE)
    usual = lists.known / lists.fetched if lists.fetched else (fewest + most) / 2
    pages = recorded.ebay_pages_per_product
    per_product = pages_per_product if pages_per_product is not None else (1 + pages) / 2
    to_search = lists.due + round(lists.unknown * usual)
    # The high bound also counts the fetched lists' other products: any of them may have been replaced
    # by a new product since the list was fetched (the estimate knows a list only as last fetched).
    ebay_requests = (
        lists.priced_due + lists.unknown * fewest,
        (lists.known + lists.unknown * most) * pages,
        round((lists.priced_due + lists.unknown * usual) * per_product),
    )
    amazon_price, ebay_price = prices.get(amazon, Decimal(0)), prices.get(ebay or amazon, Decimal(0))
    requests = [lists.categories + n for n in ebay_requests]
    costs = [_usd(lists.categories * amazon_price + n * ebay_price) for n in ebay_requests]
    return RunEstimate(
        refresh=refresh,
        refresh_after_days=recorded.refresh_after_days,
        categories=lists.categories,
        categories_fetched=lists.fetched,
        products_expected=lists.products(usual),
        products_to_search=to_search,
        requests_expected=RequestRange(low=requests[0], high=requests[1], likely=requests[2]),
        cost_expected=CostRange(low=costs[0], high=costs[1], likely=costs[2]),
    )


def _usd(per_1000: Decimal) -> Decimal:
    return (per_1000 / 1000).quantize(Decimal("0.0001"))
