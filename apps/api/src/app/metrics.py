"""Prometheus metrics: the process-wide instruments, and the text a scrape gets.

With `PROMETHEUS_MULTIPROC_DIR` set (before the app starts; `uvicorn --workers N` needs it),
prometheus-client keeps every value in a file per process in that folder, and a scrape answered
by any worker adds up all of them. Gauges of live things (subscribers, pool connections) then sum
the live processes only. Without it, the values are this process's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST

ITEMS_PROCESSED = Counter(
    "sellercollection_items_processed_total", "Work items finished successfully (committed).", ["kind"]
)
ITEMS_FAILED = Counter("sellercollection_items_failed_total", "Work items that failed for good.", ["kind"])
UPSTREAM_REQUESTS = Counter(
    "sellercollection_upstream_requests_total",
    "Upstream requests by provider and outcome (ok, rate_limited, or the error type).",
    ["provider", "outcome"],
)
UPSTREAM_LATENCY = Histogram(
    "sellercollection_upstream_request_seconds",
    "Upstream request latency, every outcome.",
    ["provider"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
RATE_LIMITED = Counter("sellercollection_upstream_rate_limited_total", "429 answers from upstreams.", ["provider"])
RATE_LIMIT_WAIT = Counter(
    "sellercollection_rate_limit_wait_seconds_total", "Seconds runs were told to hold after 429s.", ["provider"]
)
BREAKER_TRIPS = Counter(
    "sellercollection_breaker_trips_total", "Run phases stopped by the consecutive-failure breaker.", ["phase"]
)
SSE_SUBSCRIBERS = Gauge(
    "sellercollection_sse_subscribers", "Open activity-feed subscriptions.", multiprocess_mode="livesum"
)
EVENTS_PUBLISHED = Counter(
    "sellercollection_activity_events_published_total", "Activity events published.", ["backend"]
)
EVENTS_DROPPED = Counter(
    "sellercollection_activity_events_dropped_total",
    "Activity events lost: by a slow subscriber's full queue, or while the backend was unreachable.",
    ["reason"],
)
DB_POOL_IN_USE = Gauge(
    "sellercollection_db_pool_connections_in_use", "Database connections checked out.", multiprocess_mode="livesum"
)
DB_POOL_SIZE = Gauge("sellercollection_db_pool_connections", "Database connections open.", multiprocess_mode="livesum")


class _RunsByStatus(Collector):
    """Runs per status, read from PostgreSQL for this scrape (the same answer from every process)."""

    def __init__(self, counts: Mapping[str, int]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("sellercollection_runs", "Collection runs by status.", labels=["status"])
        for status, count in sorted(self._counts.items()):
            family.add_metric([status], count)
        yield family


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render(runs_by_status: Mapping[str, int]) -> bytes:
    """The exposition text: every process's instruments (when multiprocess) plus the run counts."""
    runs = CollectorRegistry()
    runs.register(_RunsByStatus(runs_by_status))
    if multiprocess_dir():
        instruments = CollectorRegistry()
        MultiProcessCollector(instruments)  # type: ignore[no-untyped-call]
    else:
        instruments = REGISTRY  # this process's instruments, plus the process and platform collectors
    return generate_latest(instruments) + generate_latest(runs)


def mark_process_dead(pid: int) -> None:
    """Drop a stopped process's live gauges (subscribers, pool) from the multiprocess files."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
