"""What is left of a run: the time at its recent rate, and the cost at its cost per product so far.

The rate is the products finished over the last minute the run was *running* (the window never
reaches back past the last start or resume, so a pause does not read as a slow minute). The cost
of the eBay phase so far, spread over the products searched, prices the products left; the
Amazon phase's requests (one best-sellers page per category) are taken out first, as they will
not repeat. Both are estimates: the page says "about".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from app.repositories.runs import RunRow
from app.status import TERMINAL_STATUSES, RunPhase, RunStatus

RECENT_WINDOW = timedelta(seconds=60)
# A shorter window (just started or resumed) says too little about the rate to promise a time.
MIN_WINDOW = timedelta(seconds=10)


@dataclass(frozen=True)
class RecentProducts:
    """Products finished (searched, skipped or failed) in the window from `since` to `until`."""

    finished: int
    since: datetime
    until: datetime

    @property
    def seconds(self) -> float:
        return (self.until - self.since).total_seconds()


@dataclass(frozen=True)
class Forecast:
    eta_seconds: float | None
    products_per_minute: float | None
    projected_cost: Decimal | None


def recent_window(run: RunRow, now: datetime) -> datetime | None:
    """Where the rate's window starts, or None when the run is not searching products now."""
    if run.status is not RunStatus.RUNNING or run.phase is not RunPhase.EBAY:
        return None
    since = now - RECENT_WINDOW
    return max(since, run.running_since) if run.running_since is not None else since


def forecast(run: RunRow, recent: RecentProducts | None, prices_per_1000: Mapping[str, Decimal]) -> Forecast:
    """Time left at the recent rate (running runs only) and the cost once every product is searched."""
    rate = _rate_per_second(recent)
    remaining = max(0, run.products_total - run.products_searched)
    eta: float | None = None
    if recent is not None:
        eta = 0.0 if remaining == 0 else (round(remaining / rate, 1) if rate else None)
    return Forecast(
        eta_seconds=eta,
        products_per_minute=round(rate * 60, 1) if rate is not None else None,
        projected_cost=_projected_cost(run, remaining, prices_per_1000),
    )


def _rate_per_second(recent: RecentProducts | None) -> float | None:
    if recent is None or recent.finished == 0 or recent.seconds < MIN_WINDOW.total_seconds():
        return None
    return recent.finished / recent.seconds


def _projected_cost(run: RunRow, remaining: int, prices_per_1000: Mapping[str, Decimal]) -> Decimal | None:
    if run.status in TERMINAL_STATUSES:
        return run.upstream_cost  # nothing more will be bought
    if run.phase is RunPhase.AMAZON or run.products_searched == 0:
        return None  # the number of products is not known yet, or nothing prices one
    if remaining == 0:
        return run.upstream_cost
    amazon = sum(
        (
            Decimal(kinds.get("best_sellers", 0)) * prices_per_1000.get(provider, Decimal(0)) / 1000
            for provider, kinds in run.upstream_requests.items()
        ),
        Decimal(0),
    )
    per_product = max(Decimal(0), run.upstream_cost - amazon) / run.products_searched
    return (run.upstream_cost + per_product * remaining).quantize(Decimal("0.0001"))
