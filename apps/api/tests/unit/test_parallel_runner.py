from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

import pytest

from app.models import ActivityEntry
from app.services.parallel_runner import (
    MAX_CONSECUTIVE_FAILURES,
    MAX_WORKERS,
    ActivityEvent,
    CollectionPausedException,
    ParallelCollectionRunner,
    create_activity_event,
)


async def test_a_default_runner_has_the_seeds_five_workers_and_trips_after_five_failures() -> None:
    running = 0
    peak = 0

    async def fail(task: int, worker_id: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        raise RuntimeError(f"boom {task}")

    with pytest.raises(CollectionPausedException) as stopped:
        await ParallelCollectionRunner().run(list(range(50)), fail)
    assert peak == 5
    assert stopped.value.reason == "failures" and len(stopped.value.failures) >= 5


def test_activity_event_is_the_activity_entry_and_its_json_drops_unset_fields() -> None:
    assert ActivityEvent is ActivityEntry
    event = create_activity_event(2, "ebay", "found", new_sellers_count=3)
    data = json.loads(event.to_json())
    assert data["worker_id"] == 2 and data["phase"] == "ebay" and data["action"] == "found"
    assert data["new_sellers_count"] == 3
    assert "category" not in data and "error_message" not in data and "seq" not in data
    assert data["id"] != create_activity_event(2, "ebay", "found").id
    assert not event.is_terminal and create_activity_event(0, "run", "cancelled").is_terminal


def test_gap_is_an_event_of_the_same_model() -> None:
    known, unknown = ActivityEntry.gap(7), ActivityEntry.gap(None)
    assert (known.action, known.phase, known.worker_id, known.missed) == ("gap", "run", 0, 7)
    assert known.id.startswith("gap-") and known.id != unknown.id
    assert "missed" not in json.loads(unknown.to_json())


async def test_each_task_processed_exactly_once_with_random_latency_and_failures() -> None:
    rng = random.Random(1234)
    calls: Counter[int] = Counter()
    failing = {i for i in range(300) if i % 7 == 3}  # never 5 in a row

    async def process(task: int, worker_id: int) -> int:
        calls[task] += 1
        await asyncio.sleep(rng.random() / 500)
        if task in failing:
            raise RuntimeError(f"boom {task}")
        return task * 2

    runner = ParallelCollectionRunner()
    results = await runner.run(list(range(300)), process, phase="ebay")

    assert set(calls) == set(range(300))
    assert set(calls.values()) == {1}
    assert sorted(results) == sorted(t * 2 for t in range(300) if t not in failing)
    assert sorted(f.task for f in runner.failures) == sorted(failing)
    assert all(isinstance(f.error, RuntimeError) and str(f.task) in str(f.error) for f in runner.failures)
    # task_done() was called exactly once per get(): join() returns at once and nothing is unfinished.
    await asyncio.wait_for(runner.work_queue.join(), timeout=1)


async def test_never_more_than_max_workers_in_flight() -> None:
    in_flight = 0
    peak = 0
    workers_seen: set[int] = set()

    async def process(task: int, worker_id: int) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        workers_seen.add(worker_id)
        await asyncio.sleep(0.001)
        in_flight -= 1

    await ParallelCollectionRunner().run(list(range(100)), process)
    assert peak == MAX_WORKERS
    assert workers_seen == {1, 2, 3, 4, 5}


async def test_consecutive_failures_stop_every_worker_and_report_unprocessed() -> None:
    started: list[int] = []
    cancelled: list[int] = []
    tripped = asyncio.Event()
    failures_seen = 0

    async def process(task: int, worker_id: int) -> int:
        nonlocal failures_seen
        assert not tripped.is_set(), "a task started after the breaker tripped"
        started.append(task)
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            cancelled.append(task)
            raise
        failures_seen += 1
        if failures_seen >= MAX_CONSECUTIVE_FAILURES:
            tripped.set()
        raise ConnectionError(f"upstream down ({task})")

    runner = ParallelCollectionRunner()
    with pytest.raises(CollectionPausedException) as info:
        await runner.run(list(range(100)), process)

    exc = info.value
    assert exc.reason == "failures"
    assert "5 consecutive failures" in str(exc)
    assert len(exc.failures) == MAX_CONSECUTIVE_FAILURES
    processed = {f.task for f in exc.failures}
    assert processed.isdisjoint(exc.unprocessed)
    assert sorted(processed | set(exc.unprocessed)) == list(range(100))
    # Whatever began and did not fail was in flight at the trip, and was cancelled.
    assert sorted(set(started) - processed) == sorted(cancelled)
    assert set(cancelled) <= set(exc.unprocessed)
    assert len(cancelled) < MAX_WORKERS


async def test_breaker_cancels_in_flight_tasks() -> None:
    cancelled: list[int] = []
    slow_started = asyncio.Event()

    async def process(task: int, worker_id: int) -> int:
        if task == 0:
            # A slow, healthy task in flight while the others fail.
            slow_started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(task)
                raise
        await slow_started.wait()
        raise TimeoutError("upstream timeout")

    runner = ParallelCollectionRunner(max_workers=2)
    with pytest.raises(CollectionPausedException) as info:
        await runner.run(list(range(10)), process)
    assert cancelled == [0]
    assert 0 in info.value.unprocessed
    assert len(info.value.failures) == MAX_CONSECUTIVE_FAILURES


async def test_a_success_resets_the_shared_counter() -> None:
    pattern = ["fail"] * 4 + ["ok"] + ["fail"] * 4 + ["ok"]

    async def process(task: int, worker_id: int) -> int:
        if pattern[task] == "fail":
            raise ValueError("bad")
        return task

    runner = ParallelCollectionRunner(max_workers=1)
    results = await runner.run(list(range(len(pattern))), process)
    assert results == [4, 9]
    assert len(runner.failures) == 8


async def test_cancel_halts_promptly_and_cancels_in_flight_work() -> None:
    all_started = asyncio.Event()
    started = 0
    interrupted = 0

    async def process(task: int, worker_id: int) -> int:
        nonlocal started, interrupted
        started += 1
        if started == MAX_WORKERS:
            all_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            interrupted += 1
            raise
        return task

    runner = ParallelCollectionRunner()
    run = asyncio.create_task(runner.run(list(range(50)), process))
    await all_started.wait()
    runner.cancel()
    with pytest.raises(CollectionPausedException) as info:
        await asyncio.wait_for(run, timeout=2)
    assert info.value.reason == "cancelled"
    assert interrupted == MAX_WORKERS
    assert sorted(info.value.unprocessed) == list(range(50))
    # Cancelling is sticky: the same runner starts nothing afterwards.
    with pytest.raises(CollectionPausedException) as again:
        await runner.run([1, 2, 3], process)
    assert again.value.reason == "cancelled" and again.value.unprocessed == [1, 2, 3] and started == MAX_WORKERS


async def test_run_after_cancel_stops_at_once() -> None:
    runner = ParallelCollectionRunner()
    runner.cancel()

    async def process(task: int, worker_id: int) -> int:
        raise AssertionError("must not run")

    with pytest.raises(CollectionPausedException) as info:
        await runner.run([1, 2, 3], process)
    assert info.value.unprocessed == [1, 2, 3]


async def test_process_task_can_request_a_stop() -> None:
    async def process(task: int, worker_id: int) -> int:
        if task == 3:
            raise CollectionPausedException("pause requested")
        await asyncio.sleep(0)
        return task

    runner = ParallelCollectionRunner(max_workers=1)
    with pytest.raises(CollectionPausedException) as info:
        await runner.run(list(range(6)), process)
    assert info.value.reason == "cancelled"
    assert info.value.unprocessed == [3, 4, 5]


async def test_outer_cancellation_leaves_no_worker_behind() -> None:
    entered = asyncio.Event()

    async def process(task: int, worker_id: int) -> int:
        entered.set()
        await asyncio.Event().wait()
        return task

    runner = ParallelCollectionRunner()
    run = asyncio.create_task(runner.run(list(range(10)), process, phase="amazon"))
    await entered.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    lingering = [t for t in asyncio.all_tasks() if t.get_name().startswith("amazon-worker-")]
    assert lingering == []


async def test_events_reach_the_callback_in_emission_order_and_a_bad_callback_is_contained() -> None:
    received: list[int] = []
    emitted = 0

    def on_activity(event: ActivityEvent) -> None:
        assert event.items_count is not None
        if event.items_count % 10 == 0:
            raise RuntimeError("subscriber bug")
        received.append(event.items_count)

    runner = ParallelCollectionRunner(on_activity=on_activity)

    async def process(task: int, worker_id: int) -> int:
        nonlocal emitted
        for _ in range(3):
            emitted += 1
            await runner.emit_activity(create_activity_event(worker_id, "ebay", "fetching", items_count=emitted))
            await asyncio.sleep(0)
        return task

    results = await runner.run(list(range(40)), process)
    assert len(results) == 40
    assert received == [n for n in range(1, 121) if n % 10 != 0]


async def test_workers_share_tasks_that_never_wait() -> None:
    seen: list[int] = []

    async def process(task: int, worker_id: int) -> int:
        seen.append(worker_id)  # no await: a task that never waits
        return task

    await ParallelCollectionRunner().run(list(range(50)), process)
    assert set(seen) == {1, 2, 3, 4, 5}
