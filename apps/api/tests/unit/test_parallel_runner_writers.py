"""The runner's per-worker writers: a task's last step (`Deferred`) runs while its worker takes the next task."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from app.services import parallel_runner
from app.services.parallel_runner import CollectionPausedException, Deferred, ParallelCollectionRunner


async def test_every_deferred_task_is_finished_once_and_a_worker_has_at_most_one_waiting() -> None:
    finished: Counter[int] = Counter()
    waiting: Counter[int] = Counter()  # per worker: tasks handed to its writer and not finished yet
    most_waiting = 0

    async def finish(task: int, worker_id: int) -> int:
        await asyncio.sleep(0)
        finished[task] += 1
        waiting[worker_id] -= 1
        return task * 2

    async def process(task: int, worker_id: int) -> int | Deferred[int]:
        nonlocal most_waiting
        await asyncio.sleep(0)
        if task % 7 == 0:
            return task * 2  # not every task needs a writer
        waiting[worker_id] += 1
        most_waiting = max(most_waiting, waiting[worker_id])
        return Deferred(lambda: finish(task, worker_id))

    results = await ParallelCollectionRunner().run(list(range(200)), process)
    assert sorted(results) == [t * 2 for t in range(200)]
    assert finished == Counter(t for t in range(200) if t % 7)
    assert most_waiting == 1


async def test_a_writers_failure_is_its_own_tasks_and_trips_the_breaker() -> None:
    async def finish(task: int) -> int:
        raise RuntimeError(f"commit of {task} failed")

    async def process(task: int, worker_id: int) -> Deferred[int]:
        await asyncio.sleep(0)
        return Deferred(lambda: finish(task))

    runner = ParallelCollectionRunner(max_workers=1, max_consecutive_failures=3)
    with pytest.raises(CollectionPausedException) as info:
        await runner.run(list(range(10)), process)
    assert info.value.reason == "failures"
    assert [f.task for f in info.value.failures] == [0, 1, 2]
    assert all(str(f.task) in str(f.error) for f in info.value.failures)
    # What was not committed goes back to the queue.
    assert sorted(info.value.unprocessed) == list(range(3, 10))


async def test_a_cancel_while_a_writer_holds_a_task_lets_its_commit_land_before_the_run_stops() -> None:
    committing = asyncio.Event()
    may_commit = asyncio.Event()
    committed: list[int] = []
    searching = asyncio.Event()

    async def finish(task: int) -> int:
        committing.set()
        await may_commit.wait()
        committed.append(task)
        return task

    async def process(task: int, worker_id: int) -> Deferred[int]:
        if task == 1:
            searching.set()
            await asyncio.Event().wait()  # the next task's upstream calls, cut short by the cancel
        return Deferred(lambda: finish(task))

    runner = ParallelCollectionRunner(max_workers=1)
    run = asyncio.create_task(runner.run([0, 1, 2], process))
    await committing.wait()
    await searching.wait()
    runner.cancel()
    await asyncio.sleep(0)
    assert not run.done()  # the stop waits for the commit in flight
    may_commit.set()
    with pytest.raises(CollectionPausedException) as info:
        await asyncio.wait_for(run, timeout=2)
    assert info.value.reason == "cancelled"
    # Committed, so not given back; the task being searched and the one not started are.
    assert committed == [0]
    assert sorted(info.value.unprocessed) == [1, 2]


async def test_a_writer_that_outlasts_the_grace_is_cancelled_and_its_task_goes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parallel_runner, "WRITER_GRACE", 0.05)
    committing = asyncio.Event()
    interrupted = asyncio.Event()

    async def finish(task: int) -> int:
        committing.set()
        try:
            await asyncio.Event().wait()  # a commit waiting for a database that does not answer
        except asyncio.CancelledError:
            interrupted.set()
            raise
        return task

    async def process(task: int, worker_id: int) -> Deferred[int]:
        if task == 1:
            await asyncio.Event().wait()
        return Deferred(lambda: finish(task))

    runner = ParallelCollectionRunner(max_workers=1)
    run = asyncio.create_task(runner.run([0, 1, 2], process))
    await committing.wait()
    runner.cancel()
    with pytest.raises(CollectionPausedException) as info:
        await asyncio.wait_for(run, timeout=2)
    assert interrupted.is_set()
    assert sorted(info.value.unprocessed) == [0, 1, 2]


async def test_a_writer_asking_for_a_stop_stops_its_worker_too() -> None:
    searched: list[int] = []

    async def finish(task: int) -> int:
        if task == 2:
            raise CollectionPausedException("coverage too low", reason="layout")
        return task

    async def process(task: int, worker_id: int) -> Deferred[int]:
        searched.append(task)
        await asyncio.sleep(0)
        return Deferred(lambda: finish(task))

    runner = ParallelCollectionRunner(max_workers=1)
    with pytest.raises(CollectionPausedException) as info:
        await runner.run(list(range(10)), process)
    assert info.value.reason == "layout"
    # Task 2 asked for the stop (it stays for a resume, as without writers); no task is searched after it
    # but the one its worker may have been searching meanwhile.
    assert sorted(info.value.unprocessed) == list(range(2, 10))
    assert searched[:3] == [0, 1, 2] and len(searched) <= 4


async def test_an_outer_cancellation_leaves_no_writer_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel_runner, "WRITER_GRACE", 0.05)
    committing = asyncio.Event()

    async def finish(task: int) -> int:
        committing.set()
        await asyncio.Event().wait()
        return task

    async def process(task: int, worker_id: int) -> Deferred[int]:
        return Deferred(lambda: finish(task))

    runner = ParallelCollectionRunner(max_workers=2)
    before = asyncio.all_tasks()
    run = asyncio.create_task(runner.run(list(range(10)), process))
    await committing.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert asyncio.all_tasks() <= before
