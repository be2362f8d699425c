"""What a run asks of its upstreams and what that costs, and how much of what it read had a seller line.

Every upstream answer is counted by provider and kind: `best_sellers` and `ebay_page` for first
tries, `retry` for every further try of the same request (transient errors, the list-view retry
of an unreadable page), `rate_limited` for answers that were 429s. The counts accumulate here
and the pipeline adds them to the run (`drain`) about once a second and at every phase end, so a
crash loses at most a second of counts. Cost is priced when counted, per 1,000 requests of each provider; 429s are not
billed (Oxylabs bills none, and eBay's Browse API bills nothing at all). The listings of every
eBay result page read, and those with a readable seller line (the run's seller-line coverage),
travel the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from app.config import Settings

RequestKind = Literal["best_sellers", "ebay_page", "retry", "rate_limited"]
KINDS: tuple[RequestKind, ...] = ("best_sellers", "ebay_page", "retry", "rate_limited")


def prices_per_1000(settings: Settings) -> dict[str, Decimal]:
    return {
        "oxylabs": Decimal(str(settings.oxylabs_price_per_1000)),
        "ebay_api": Decimal(str(settings.ebay_api_price_per_1000)),
        "demo": Decimal(str(settings.demo_price_per_1000)),
    }


@dataclass(frozen=True)
class UsageDelta:
    requests: dict[str, dict[str, int]]
    cost: Decimal
    pages_skipped: int
    listings_read: int = 0
    listings_with_seller: int = 0

    @property
    def empty(self) -> bool:
        return not self.requests and not self.pages_skipped and not self.listings_read


class RequestMeter:
    def __init__(self, prices: Mapping[str, Decimal]) -> None:
        self._prices = dict(prices)
        self._pending: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._cost = Decimal(0)
        self._skipped = 0
        self._listings = 0
        self._with_seller = 0
        self.total = 0  # every request counted in this process, for progress between flushes

    def count(self, provider: str, kind: RequestKind) -> None:
        self._pending[provider][kind] += 1
        self.total += 1
        if kind != "rate_limited":
            self._cost += self._prices.get(provider, Decimal(0)) / 1000

    def skip_pages(self, pages: int) -> None:
        self._skipped += max(0, pages)

    def read_listings(self, listings: int, with_seller: int) -> None:
        """A result page read: its listings, and how many of them had a readable seller line."""
        self._listings += listings
        self._with_seller += with_seller

    def give_back(self, delta: UsageDelta) -> None:
        """Count a drained delta again, when it could not be stored (the next flush stores it)."""
        for provider, kinds in delta.requests.items():
            for kind, n in kinds.items():
                self._pending[provider][kind] += n
        self._cost += delta.cost
        self._skipped += delta.pages_skipped
        self._listings += delta.listings_read
        self._with_seller += delta.listings_with_seller

    def drain(self) -> UsageDelta:
        delta = UsageDelta(
            requests={provider: dict(kinds) for provider, kinds in self._pending.items()},
            cost=self._cost,
            pages_skipped=self._skipped,
            listings_read=self._listings,
            listings_with_seller=self._with_seller,
        )
        self._pending.clear()
        self._cost = Decimal(0)
        self._skipped = 0
        self._listings = 0
        self._with_seller = 0
        return delta


def usage_summary(run: Mapping[str, Any]) -> dict[str, Any]:
    """Totals for a stored run: requests (all, by kind), cost, cost per new seller."""
    stored = run.get("upstream_requests") or {}
    by_kind = {kind: sum(int(kinds.get(kind, 0)) for kinds in stored.values()) for kind in KINDS}
    total = sum(by_kind.values())
    cost = Decimal(str(run.get("upstream_cost") or 0))
    new = int(run.get("sellers_new") or 0)
    return {
        "requests_total": total,
        "requests_by_kind": by_kind,
        "cost_usd": float(round(cost, 4)),
        "cost_per_new_seller_usd": float(round(cost / new, 4)) if new else None,
        "requests_per_new_seller": round(total / new, 2) if new else None,
    }
