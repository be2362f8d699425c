"""The forecast of a run (time left at the recent rate, projected cost) and its active and paused time."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.repositories.runs import RunRow
from app.services.runs.forecast import RecentProducts, forecast, recent_window
from app.status import RunPhase, RunStatus

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PRICES = {"oxylabs": Decimal("1.5"), "ebay_api": Decimal(0), "demo": Decimal(0)}


def run_row(**fields: Any) -> RunRow:
    """A run row with plain defaults: running in the eBay phase, started ten minutes ago."""
    base: dict[str, Any] = {f.name: None for f in dataclasses.fields(RunRow)}
    base.update(
        id=uuid.uuid4(), org_id=uuid.uuid4(), name="r", status="running", phase="ebay", category_ids=["a"],
        provider="oxylabs", categories_total=1, categories_completed=1, products_total=100, products_searched=40,
        sellers_found=0, sellers_new=0, failed_items=0, upstream_requests={}, upstream_cost=Decimal(0),
        ebay_pages_skipped=0, created_at=NOW - timedelta(minutes=11), started_at=NOW - timedelta(minutes=10),
        updated_at=NOW, event_seq_reserved=0, trigger="manual", finished_pauses_seconds=0.0,
        running_since=NOW - timedelta(minutes=10),
    )  # fmt: skip
    base.update(fields)
    return RunRow(**base)


def test_time_left_is_the_products_left_at_the_recent_rate() -> None:
    row = run_row()
    since = recent_window(row, NOW)
    assert since == NOW - timedelta(seconds=60)
    result = forecast(row, RecentProducts(30, since, NOW), PRICES)
    assert result.products_per_minute == 30.0
    assert result.eta_seconds == 120.0  # 60 products left at half a product a second


def test_the_window_never_reaches_back_past_a_resume() -> None:
    row = run_row(running_since=NOW - timedelta(seconds=20))
    since = recent_window(row, NOW)
    assert since == NOW - timedelta(seconds=20)
    assert forecast(row, RecentProducts(10, since, NOW), PRICES).eta_seconds == 120.0  # 60 left at 0.5/s


@pytest.mark.parametrize(
    ("fields", "recent"),
    [
        ({"status": "paused"}, None),  # paused: no window at all
        ({"phase": "amazon", "products_total": 0, "products_searched": 0}, None),  # products still being listed
        ({"running_since": NOW - timedelta(seconds=4)}, 3),  # just resumed: too short a window to promise a time
        ({}, 0),  # nothing finished in the last minute (a long rate-limit wait)
    ],
)
def test_no_time_is_promised_without_a_rate(fields: dict[str, Any], recent: int | None) -> None:
    row = run_row(**fields)
    since = recent_window(row, NOW)
    assert (since is None) == (recent is None)
    window = RecentProducts(recent, since, NOW) if since is not None and recent is not None else None
    result = forecast(row, window, PRICES)
    assert result.eta_seconds is None and result.products_per_minute is None


def test_the_projected_cost_prices_the_products_left_at_the_ebay_cost_per_product() -> None:
    # 10 best-seller pages (Amazon, $0.015) and 40 products for $0.12 of eBay pages: $0.003 a product.
    row = run_row(upstream_requests={"oxylabs": {"best_sellers": 10, "ebay_page": 80}}, upstream_cost=Decimal("0.135"))
    assert forecast(row, None, PRICES).projected_cost == Decimal("0.3150")  # 0.135 + 60 x 0.003
    assert forecast(run_row(status="completed", upstream_cost=Decimal("0.5")), None, PRICES).projected_cost == Decimal(
        "0.5"
    )
    assert forecast(run_row(phase="amazon"), None, PRICES).projected_cost is None
    assert forecast(run_row(products_searched=0), None, PRICES).projected_cost is None


def test_active_time_leaves_out_every_pause() -> None:
    now = datetime.now(UTC)  # a running or paused row's times run on to the clock
    started = now - timedelta(minutes=10)
    running = run_row(started_at=started, finished_pauses_seconds=90.0)
    assert running.active_seconds == pytest.approx(510, abs=1)  # ten minutes less the finished pause
    paused = run_row(
        status=RunStatus.PAUSED, started_at=started, paused_at=now - timedelta(minutes=2), finished_pauses_seconds=90.0
    )
    assert paused.active_seconds == pytest.approx(390)  # stands still from the pause on
    assert paused.paused_seconds == pytest.approx(210, abs=1)
    done = run_row(status="completed", phase=RunPhase.DONE, completed_at=NOW, finished_pauses_seconds=90.0)
    assert done.active_seconds == 510 and done.paused_seconds == 90
    assert run_row(status="pending", started_at=None).active_seconds is None
