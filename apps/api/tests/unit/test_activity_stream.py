from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError
from sse_starlette import ServerSentEvent

from app.models import ActivityEntry
from app.services.activity_stream import (
    ACTIVITY_BUFFER_SIZE,
    ActivityStreamManager,
    StreamEvent,
    Subscription,
    sse_frame,
)
from app.services.parallel_runner import create_activity_event

R = UUID("00000000-0000-4000-8000-000000000001")


def ev(n: int) -> ActivityEntry:
    return create_activity_event(1, "ebay", "fetching", items_count=n)


def finished(n: int) -> ActivityEntry:
    """The run's terminal event."""
    return create_activity_event(0, "run", "complete", items_count=n)


def drain(sub: Subscription) -> list[StreamEvent]:
    """Everything already queued for `sub`, without waiting."""
    out = []
    while (event := _next_now(sub)) is not None:
        out.append(event)
    return out


def _next_now(sub: Subscription) -> StreamEvent | None:
    """The next event if one is ready, None if the subscription would wait (or has ended)."""
    coro = sub.__anext__()
    try:
        coro.send(None)
    except StopIteration as stop:
        value: StreamEvent = stop.value
        return value
    except StopAsyncIteration:
        return None
    coro.close()
    return None


def body(event: StreamEvent) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(event.data)
    return data


async def test_push_numbers_events_and_buffers_the_last_hundred() -> None:
    manager = ActivityStreamManager()
    seqs = [manager.push(R, ev(i)) for i in range(1, 151)]
    assert seqs == list(range(1, 151))
    sub = manager.subscribe(R)
    replayed = drain(sub)
    assert [e.seq for e in replayed] == list(range(51, 151))
    assert len(replayed) == ACTIVITY_BUFFER_SIZE
    assert body(replayed[0])["seq"] == 51 and body(replayed[0])["items_count"] == 51


async def test_two_subscribers_each_get_every_event() -> None:
    manager = ActivityStreamManager()
    a, b = manager.subscribe(R), manager.subscribe(R)
    for i in range(1, 21):
        manager.push(R, ev(i))
    manager.push(R, finished(21))
    got_a = [e.seq async for e in a]
    got_b = [e.seq async for e in b]
    assert got_a == got_b == list(range(1, 22))


async def test_resume_after_last_event_id_replays_exactly_the_missed_events() -> None:
    manager = ActivityStreamManager()
    for i in range(1, 31):
        manager.push(R, ev(i))
    sub = manager.subscribe(R, last_event_id=25)
    assert [e.seq for e in drain(sub)] == [26, 27, 28, 29, 30]
    caught_up = manager.subscribe(R, last_event_id=30)
    assert drain(caught_up) == []


async def test_resume_beyond_the_buffer_starts_with_a_gap_event() -> None:
    manager = ActivityStreamManager()
    for i in range(1, 201):
        manager.push(R, ev(i))
    events = drain(manager.subscribe(R, last_event_id=40))
    assert body(events[0])["action"] == "gap"
    assert body(events[0])["missed"] == 60  # 41..100 are gone; 101..200 are buffered
    assert events[0].seq is None
    assert [e.seq for e in events[1:]] == list(range(101, 201))


async def test_an_id_from_before_a_restart_gets_a_gap_of_unknown_size() -> None:
    manager = ActivityStreamManager()
    manager.push(R, ev(1))
    events = drain(manager.subscribe(R, last_event_id=500))
    assert body(events[0])["action"] == "gap" and "missed" not in body(events[0])
    assert [e.seq for e in events[1:]] == [1]


async def test_a_slow_subscriber_loses_its_own_oldest_events_and_is_told() -> None:
    manager = ActivityStreamManager(subscriber_queue_size=10)
    slow, fast = manager.subscribe(R), manager.subscribe(R)
    fast_seen: list[int | None] = []
    for i in range(1, 51):
        manager.push(R, ev(i))
        fast_seen.extend(e.seq for e in drain(fast))
    assert fast_seen == list(range(1, 51))
    slow_events = drain(slow)
    assert body(slow_events[0])["action"] == "gap"
    assert body(slow_events[0])["missed"] == 40
    assert [e.seq for e in slow_events[1:]] == list(range(41, 51))


async def test_terminal_event_ends_subscriptions_and_the_stream_is_dropped_after_grace() -> None:
    manager = ActivityStreamManager(finished_grace_seconds=0.01)
    sub = manager.subscribe(R)
    manager.push(R, ev(1))
    manager.push(R, finished(2))
    assert [e.seq async for e in sub] == [1, 2]
    assert manager.subscriber_count(R) == 0

    late = manager.subscribe(R, last_event_id=1)
    assert [e.seq async for e in late] == [2]
    done = manager.subscribe(R, last_event_id=2)
    assert [e async for e in done] == []

    dropped = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.02, dropped.set_result, None)
    await dropped
    assert not manager.has_stream(R)
    assert manager.push(R, ev(3)) == 1  # a new stream; the finished one is gone


async def test_nothing_is_kept_after_many_subscribe_close_cycles() -> None:
    manager = ActivityStreamManager()
    runs = [uuid4() for _ in range(50)]
    for i in range(2000):
        sub = manager.subscribe(runs[i % 50])
        sub.close()
        sub.close()  # idempotent
    assert manager.stats() == {"streams": 0, "subscribers": 0}


async def test_memory_stays_flat_over_thousands_of_finished_runs() -> None:
    manager = ActivityStreamManager(finished_grace_seconds=0)
    runs = [uuid4() for _ in range(3000)]
    for i in range(3000):
        manager.push(runs[i], ev(1))
        manager.push(runs[i], finished(2))
    settled = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0, settled.set_result, None)
    await settled
    assert manager.stats() == {"streams": 0, "subscribers": 0}


async def test_idle_streams_are_swept() -> None:
    now = [1000.0]
    manager = ActivityStreamManager(idle_ttl_seconds=60, clock=lambda: now[0])
    paused, other = uuid4(), uuid4()
    manager.push(paused, ev(1))
    assert manager.has_stream(paused)
    now[0] += 3600
    manager.push(other, ev(1))  # any activity triggers the sweep
    assert not manager.has_stream(paused)
    assert manager.has_stream(other)


async def test_wait_for_subscribers() -> None:
    manager = ActivityStreamManager()
    waiter = asyncio.create_task(manager.wait_for_subscribers(R, 2))
    a = manager.subscribe(R)
    assert not waiter.done()
    b = manager.subscribe(R)
    await asyncio.wait_for(waiter, 1)
    a.close()
    b.close()
    await asyncio.wait_for(manager.wait_for_subscribers(R, 0), 1)


async def test_invalid_events_cannot_be_built() -> None:
    with pytest.raises(ValidationError):
        ActivityEntry.model_validate(
            {"id": "x", "timestamp": "t", "worker_id": 1, "phase": "ebay", "action": "exploded"}
        )


async def test_frames_are_what_sse_starlette_would_encode() -> None:
    manager = ActivityStreamManager()
    tricky = create_activity_event(2, "ebay", "error", error_message='line one\nline two\r\n\u2028 "quoted"')
    manager.push(R, tricky)
    sub = manager.subscribe(R, last_event_id=5)  # from before a restart: a gap (no id) first
    gap, numbered = drain(sub)
    for event in (gap, numbered):
        expected = ServerSentEvent(data=event.data, id=None if event.seq is None else str(event.seq)).encode()
        assert event.frame == expected == sse_frame(event.seq, event.data)
    assert numbered.entry.error_message == tricky.error_message and numbered.seq == 1
    assert body(numbered) == {**tricky.model_dump(mode="json", exclude_none=True), "seq": 1}


async def test_events_of_one_write_window_wake_a_waiting_reader_once_with_all_of_them() -> None:
    manager = ActivityStreamManager(write_delay_seconds=0.05)
    sub = manager.subscribe(R)
    reader = asyncio.create_task(sub.next_event())
    await asyncio.sleep(0)  # the reader is waiting now
    for n in range(5):
        manager.push(R, ev(n))
    await asyncio.sleep(0)
    assert not reader.done()  # gathered, not written one by one
    first = await asyncio.wait_for(reader, 5)
    assert first is not None and first.seq == 1
    assert [e.seq for e in sub.take_ready(64)] == [2, 3, 4, 5]  # the rest came with the same wake-up
    assert sub.take_ready(64) == []
    sub.close()


async def test_without_a_write_delay_a_waiting_reader_wakes_at_the_first_event() -> None:
    manager = ActivityStreamManager(write_delay_seconds=0)
    sub = manager.subscribe(R)
    reader = asyncio.create_task(sub.next_event())
    await asyncio.sleep(0)
    manager.push(R, ev(1))
    first = await asyncio.wait_for(reader, 5)
    assert first is not None and first.seq == 1
    sub.close()


async def test_take_ready_stops_at_its_limit_and_ends_with_the_terminal_event() -> None:
    manager = ActivityStreamManager()
    sub = manager.subscribe(R)
    for n in range(3):
        manager.push(R, ev(n))
    manager.push(R, finished(3))
    assert [e.seq for e in sub.take_ready(2)] == [1, 2]
    assert [e.seq for e in sub.take_ready(10)] == [3, 4]
    with pytest.raises(StopAsyncIteration):
        await sub.next_event()
    assert manager.subscriber_count(R) == 0


async def test_a_poke_wakes_a_waiting_reader_with_nothing_and_an_event_makes_it_moot() -> None:
    manager = ActivityStreamManager()
    sub = manager.subscribe(R)
    reader = asyncio.create_task(sub.next_event())
    await asyncio.sleep(0)
    sub.poke()
    assert await asyncio.wait_for(reader, 5) is None  # keepalive due, nothing new
    sub.poke()
    manager.push(R, ev(1))
    event = await sub.next_event()
    assert event is not None and event.seq == 1
    waiting = asyncio.create_task(sub.next_event())
    await asyncio.sleep(0)
    assert not waiting.done()  # the poke was answered by the event: no keepalive owed
    waiting.cancel()
    sub.close()
