"""One contract for every activity-feed backend: in memory, and Redis Streams (a real Redis).

Redis tests fail, not skip, when `CI` is set and Redis is unreachable; each test has its own key prefix.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from app.services.activity_redis import RedisActivityStream
from app.services.activity_stream import ActivityBackend, ActivityStreamManager, ActivitySubscription, StreamEvent
from app.services.parallel_runner import create_activity_event
from tests.redis_support import redis_url, unique_prefix

HISTORY = 20
Factory = Callable[[], ActivityBackend]


@pytest.fixture(params=["memory", "redis"])
async def make_backend(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    """Backends sharing one store: for Redis each call is another "process" on the same keys."""
    made: list[ActivityBackend] = []
    if request.param == "memory":
        shared = ActivityStreamManager(history=HISTORY)

        def factory() -> ActivityBackend:
            made.append(shared)
            return shared
    else:
        url, prefix = redis_url(), unique_prefix()

        def factory() -> ActivityBackend:
            backend = RedisActivityStream(url, key_prefix=prefix, history=HISTORY, finished_ttl_seconds=60)
            made.append(backend)
            return backend

    yield factory
    for backend in {id(b): b for b in made}.values():
        await backend.aclose()


async def ready(make: Factory) -> ActivityBackend:
    backend = make()
    await backend.start()
    return backend


def ev(n: int, action: str = "fetching") -> Any:
    """Event `n`; "complete" is the run's terminal event."""
    if action == "complete":
        return create_activity_event(0, "run", "complete", items_count=n)
    return create_activity_event(1, "ebay", action, items_count=n)


async def take(subscription: ActivitySubscription, n: int, timeout: float = 10) -> list[StreamEvent]:
    events: list[StreamEvent] = []

    async def read() -> None:
        async for event in subscription:
            events.append(event)
            if len(events) >= n:
                return

    await asyncio.wait_for(read(), timeout)
    return events


async def rest(subscription: ActivitySubscription, timeout: float = 10) -> list[StreamEvent]:
    """Everything until the subscription ends (it must end: a terminal event, or nothing to say)."""
    events: list[StreamEvent] = []

    async def read() -> None:
        async for event in subscription:
            events.append(event)

    await asyncio.wait_for(read(), timeout)
    return events


def body(event: StreamEvent) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(event.data)
    return parsed


async def published(backend: ActivityBackend, run_id: uuid.UUID, seq: int) -> None:
    """Until `seq` is visible in the backend (Redis writes in the background)."""

    async def wait() -> None:
        while (await backend.last_seq(run_id) or 0) < seq:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), 10)


def run() -> uuid.UUID:
    return uuid.uuid4()


async def test_ids_count_up_from_one_and_a_new_subscriber_replays_then_follows(make_backend: Factory) -> None:
    backend = await ready(make_backend)
    r = run()
    for i in range(1, 6):
        backend.push(r, ev(i))
    await published(backend, r, 5)
    subscription = backend.subscribe(r)
    first = await take(subscription, 5)
    backend.push(r, ev(6))
    live = await take(subscription, 1)
    subscription.close()
    assert [e.seq for e in first + live] == [1, 2, 3, 4, 5, 6]
    assert [body(e)["items_count"] for e in first + live] == [1, 2, 3, 4, 5, 6]
    assert all(body(e)["seq"] == e.seq for e in first + live)
    assert first[0].frame.startswith(b"id: 1")


async def test_resume_after_an_id_gets_only_later_events(make_backend: Factory) -> None:
    backend = await ready(make_backend)
    r = run()
    for i in range(1, 11):
        backend.push(r, ev(i))
    await published(backend, r, 10)
    events = await take(backend.subscribe(r, last_event_id=7), 3)
    assert [e.seq for e in events] == [8, 9, 10]


async def test_a_resume_point_older_than_the_history_gets_a_gap_with_the_count(make_backend: Factory) -> None:
    backend = await ready(make_backend)
    r = run()
    for i in range(1, 501):
        backend.push(r, ev(i))
    backend.push(r, ev(501, "complete"))
    await published(backend, r, 501)
    events = await rest(backend.subscribe(r, last_event_id=3))
    gap, replay = events[0], events[1:]
    assert body(gap)["action"] == "gap" and gap.seq is None
    assert replay and replay[0].seq is not None and replay[0].seq > 4
    assert body(gap)["missed"] == replay[0].seq - 4  # exactly the ids no longer kept
    assert [e.seq for e in replay] == list(range(replay[0].seq, 502))
    assert replay[-1].terminal


async def test_an_id_never_handed_out_gets_a_gap_of_unknown_size(make_backend: Factory) -> None:
    backend = await ready(make_backend)
    r = run()
    backend.push(r, ev(1))
    await published(backend, r, 1)
    events = await take(backend.subscribe(r, last_event_id=500), 2)
    assert body(events[0])["action"] == "gap" and "missed" not in body(events[0])
    assert [e.seq for e in events[1:]] == [1]


async def test_the_terminal_event_ends_every_subscription(make_backend: Factory) -> None:
    publisher = await ready(make_backend)
    elsewhere = await ready(make_backend)  # another process, for Redis
    r = run()
    publisher.push(r, ev(1))
    await published(publisher, r, 1)
    subscriptions = [publisher.subscribe(r), elsewhere.subscribe(r), elsewhere.subscribe(r, last_event_id=1)]
    await asyncio.gather(*(take(s, 1) for s in subscriptions[:2]))
    publisher.push(r, ev(2))
    publisher.push(r, ev(3, "complete"))
    endings = await asyncio.gather(*(rest(s) for s in subscriptions))
    assert [[e.seq for e in got] for got in endings] == [[2, 3], [2, 3], [2, 3]]
    assert [body(got[-1])["action"] for got in endings] == ["complete"] * 3
    # Identical bytes whichever process delivered them.
    assert endings[0][0].frame == endings[1][0].frame == endings[2][0].frame
    # Reconnecting after the end: nothing more; from the start: everything, then the end.
    assert await rest(elsewhere.subscribe(r, last_event_id=3)) == []
    assert [e.seq for e in await rest(elsewhere.subscribe(r))] == [1, 2, 3]
    assert await elsewhere.last_seq(r) == 3
    assert [e.seq for e in await publisher.recent(r)] == [1, 2, 3]


async def test_a_floor_from_before_a_restart_puts_new_ids_above_it(make_backend: Factory) -> None:
    backend = await ready(make_backend)
    r = run()
    backend.ensure_floor(r, 10_000)
    backend.push(r, ev(1))
    backend.push(r, ev(2))
    await published(backend, r, 10_002)
    events = await take(backend.subscribe(r, last_event_id=57), 3)
    assert body(events[0])["action"] == "gap" and "missed" not in body(events[0])
    assert [e.seq for e in events[1:]] == [10_001, 10_002]


async def test_publishing_order_is_kept_and_subscribers_see_identical_streams(make_backend: Factory) -> None:
    publisher = await ready(make_backend)
    reader = await ready(make_backend)
    r = run()
    publisher.push(r, ev(0))
    await published(publisher, r, 1)
    subs = [reader.subscribe(r, last_event_id=1) for _ in range(3)] + [publisher.subscribe(r, last_event_id=1)]
    for i in range(1, 201):
        publisher.push(r, ev(i))
        if i % 10 == 0:
            await published(publisher, r, i + 1)  # a steady feed, not one burst larger than the history
    got = await asyncio.gather(*(take(s, 200) for s in subs))
    for s in subs:
        s.close()
    assert all([e.seq for e in g] == list(range(2, 202)) for g in got)
    assert all([e.data for e in g] == [e.data for e in got[0]] for g in got)
