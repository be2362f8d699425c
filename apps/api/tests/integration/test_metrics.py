"""`GET /metrics`: Prometheus text that prometheus-client's own parser reads, matching a real run's counts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import LiveServer, ServerFactory, TokenFactory, leaf_ids, start_run, terminal

SCRAPE_TOKEN = "scrape-secret-for-tests"


SETTINGS: dict[str, Any] = {
    "demo_latency_ms": 1,
    "demo_rate_limit_rate": 0.05,
    "demo_retry_after_seconds": 0.01,
    "retry_wait_initial_seconds": 0.01,
    "metrics_token": SCRAPE_TOKEN,
    "activity_subscriber_queue_size": 100_000,
}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(live: LiveServer) -> Samples:
    async with live.client(SCRAPE_TOKEN) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


async def test_scrape_token_is_required_and_metrics_are_off_without_one(
    live: LiveServer, serve_with: ServerFactory
) -> None:
    async with live.client() as anonymous:
        assert (await anonymous.get("/metrics")).status_code == 401
    async with live.client("wrong") as wrong:
        answer = await wrong.get("/metrics")
    assert answer.status_code == 401 and "detail" in answer.json()
    async with serve_with() as off, off.client(SCRAPE_TOKEN) as client:
        assert (await client.get("/metrics")).status_code == 404


async def test_counters_match_a_runs_counts(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    before = await scrape(live)
    async with live.client(identity.token) as client:
        run, feed = await start_run(live, client, ["electronics-computers", "baby-feeding", "beauty-makeup"])
        try:
            events = await feed.until(terminal, timeout=120)
        finally:
            feed.close()
        final = (await client.get(f"/collection/runs/{run['id']}")).json()
    after = await scrape(live)
    assert final["status"] == "completed"

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("sellercollection_items_processed_total", kind="category") == final["categories_completed"]
    assert delta("sellercollection_items_processed_total", kind="product") == final["products_searched"]
    assert delta("sellercollection_items_failed_total") == final["failed_items"]
    fetches = [e for e in events if e["action"] == "fetching"]
    rate_limited = [e for e in events if e["action"] == "rate_limited"]
    assert delta("sellercollection_upstream_requests_total", provider="demo") == len(fetches)
    assert delta("sellercollection_upstream_requests_total", provider="demo", outcome="rate_limited") == len(
        rate_limited
    )
    assert delta("sellercollection_upstream_rate_limited_total", provider="demo") == len(rate_limited)
    assert delta("sellercollection_upstream_request_seconds_count", provider="demo") == len(fetches)
    assert delta("sellercollection_rate_limit_wait_seconds_total") == pytest.approx(
        sum(e["retry_after_seconds"] for e in rate_limited)
    )
    assert delta("sellercollection_activity_events_published_total", backend="memory") >= len(events)
    assert total(after, "sellercollection_runs", status="completed") >= 1
    assert total(after, "sellercollection_db_pool_connections") >= 1
    assert "sellercollection_sse_subscribers" in {n for n, _ in after}


async def test_breaker_trips_and_sse_subscribers_are_counted(
    live: LiveServer, make_identity: TokenFactory, serve_with: ServerFactory
) -> None:
    identity = await make_identity()
    async with serve_with(demo_error_rate=1.0, upstream_attempts=1, metrics_token=SCRAPE_TOKEN) as server:
        before = await scrape(server)
        async with server.client(identity.token) as client:
            ids = leaf_ids((await client.get("/amazon/categories")).json())[:8]
            run, feed = await start_run(server, client, ids)
            try:
                await feed.until(lambda ev: any(e["action"] == "paused" for e in ev), timeout=60)
            finally:
                feed.close()
            async with client.stream("GET", f"/collection/runs/{run['id']}/activity") as sse:
                lines: AsyncIterator[str] = sse.aiter_lines()
                assert (await anext(lines)).startswith(":")  # connected: the subscription is open
                during = await scrape(server)
        after = await scrape(server)
    trips = total(after, "sellercollection_breaker_trips_total", phase="amazon") - total(
        before, "sellercollection_breaker_trips_total", phase="amazon"
    )
    assert trips == 1
    assert total(during, "sellercollection_sse_subscribers") == total(before, "sellercollection_sse_subscribers") + 1
