"""Losing Redis never stops publishing: the feed says so, counts what it drops, and recovers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from app.services.activity_redis import RedisActivityStream
from app.services.activity_stream import ActivitySubscription, StreamEvent
from app.services.parallel_runner import create_activity_event
from tests.redis_support import PrivateRedis
from tests.support import free_port


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port())
    server.start()
    yield server
    server.stop()


def dropped() -> float:
    return (
        REGISTRY.get_sample_value("sellercollection_activity_events_dropped_total", {"reason": "backend_unavailable"})
        or 0.0
    )


async def next_events(subscription: ActivitySubscription, n: int) -> list[StreamEvent]:
    events: list[StreamEvent] = []

    async def read() -> None:
        async for event in subscription:
            events.append(event)
            if len(events) == n:
                return

    await asyncio.wait_for(read(), 30)
    return events


async def test_events_published_while_redis_is_down_are_dropped_counted_and_the_feed_recovers(
    private_redis: PrivateRedis,
) -> None:
    backend = RedisActivityStream(private_redis.url, key_prefix="outage")
    await backend.start()
    run = uuid.uuid4()
    try:
        subscription = backend.subscribe(run)
        for i in range(3):
            backend.push(run, create_activity_event(1, "ebay", "fetching", items_count=i))
        assert [e.seq for e in await next_events(subscription, 3)] == [1, 2, 3]

        private_redis.stop()
        before = dropped()
        for i in range(5):
            backend.push(run, create_activity_event(1, "ebay", "fetching", items_count=10 + i))  # never raises
        notice = await next_events(subscription, 1)
        assert json.loads(notice[0].data)["action"] == "gap"
        assert "Redis" in json.loads(notice[0].data)["error_message"]

        async def all_dropped() -> None:
            while dropped() - before < 5:  # noqa: ASYNC110 (a counter has no waiters)
                await asyncio.sleep(0.05)

        await asyncio.wait_for(all_dropped(), 30)

        private_redis.start()  # empty: a restart without persistence lost everything
        backend.push(run, create_activity_event(1, "ebay", "found", items_count=99))
        backend.push(run, create_activity_event(0, "run", "complete"))
        after = await next_events(subscription, 2)
        assert [json.loads(e.data)["action"] for e in after] == ["found", "complete"]
        assert [e.seq for e in after] == [4, 5]  # numbering went on above what was written, not from 1
        assert dropped() - before == 5
    finally:
        await backend.aclose()
