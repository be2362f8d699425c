"""Two servers (two apps, each with its own executor) on one database: control and progress from either."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from httpx_sse import aconnect_sse

from app.config import Settings
from app.main import create_app
from app.models import ActivityEntry
from app.repositories import activity_history as history_repo
from app.repositories import runs as runs_repo
from app.repositories.activity_history import StoredEvent
from app.services import activity_feed, activity_history
from app.services.runs.executor import RunExecutor
from tests.support import (
    Events,
    Feed,
    LiveServer,
    ServerFactory,
    TokenFactory,
    run_event,
    serve_app,
    start_run,
    terminal,
)

CATEGORIES = ["electronics-computers", "baby-feeding", "beauty-makeup", "auto-car-care"]


SETTINGS: dict[str, Any] = {
    "demo_latency_ms": 20,
    "run_control_poll_seconds": 0.3,
    "activity_subscriber_queue_size": 100_000,
}


@pytest.fixture(scope="module")
async def other(settings: Settings) -> AsyncIterator[LiveServer]:
    async with serve_app(create_app(settings)) as server:
        yield server


def executor(server: LiveServer) -> RunExecutor:
    ex: RunExecutor = server.runtime.executor
    return ex


async def until(check: Callable[[], bool | Awaitable[bool]], timeout: float = 30) -> None:
    async def holds() -> bool:
        result = check()
        return await result if inspect.isawaitable(result) else result

    async def wait() -> None:
        # Another executor acts on its own schedule; this only looks, bounded by the timeout.
        while not await holds():  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), timeout)


def count(events: Events, action: str) -> int:
    return sum(1 for e in events if e["phase"] == "run" and e["action"] == action)


async def test_pause_resume_cancel_from_the_other_process_and_live_lanes(
    live: LiveServer, other: LiveServer, make_identity: TokenFactory
) -> None:
    identity = await make_identity()
    async with live.client(identity.token) as a, other.client(identity.token) as b:
        run = (await a.post("/collection/runs", json={"category_ids": CATEGORIES})).json()
        run_id = run["id"]
        feed_a = Feed(live, run_id)
        feed_b = Feed(other, run_id)
        try:
            await a.post(f"/collection/runs/{run_id}/start")
            await feed_a.until(lambda ev: sum(e["action"] == "found" for e in ev) >= 2)
            assert executor(live).is_executing(uuid.UUID(run_id))

            # Progress asked of B shows A's live worker lanes (published to the row each control tick).
            async def lanes_via_b() -> bool:
                progress = (await b.get(f"/collection/runs/{run_id}/progress")).json()
                return not progress["executing_here"] and len(progress["workers"]) > 0

            await until(lanes_via_b)

            paused = await b.post(f"/collection/runs/{run_id}/pause")
            assert paused.status_code == 200 and paused.json()["status"] == "paused"
            await until(lambda: not executor(live).is_executing(uuid.UUID(run_id)))
            events_a = await feed_a.until(run_event("paused"))
            assert count(events_a, "paused") == 1  # announced once, by the process that stopped it
            assert events_a[-1]["action"] == "paused"  # the workers' last events came before it

            resumed = await b.post(f"/collection/runs/{run_id}/resume")
            assert resumed.json()["status"] == "running"
            assert executor(other).is_executing(uuid.UUID(run_id))
            await feed_b.until(lambda ev: sum(e["action"] == "found" for e in ev) >= 1)
            progress_a = (await a.get(f"/collection/runs/{run_id}/progress")).json()
            assert progress_a["executing_here"] is False

            cancelled = await a.post(f"/collection/runs/{run_id}/cancel")
            assert cancelled.json()["status"] == "cancelled"
            events_b = await feed_b.until(terminal)
            assert count(events_b, "cancelled") == 1 and events_b[-1]["action"] == "cancelled"
            assert not executor(other).is_executing(uuid.UUID(run_id))
        finally:
            feed_a.close()
            feed_b.close()

        # The finished run's feed, asked of A (whose memory never saw the end), replays the stored
        # events through the terminal one and ends; with the last id it is 204.
        async with aconnect_sse(a, "GET", f"/collection/runs/{run_id}/activity") as sse:
            replayed = [json.loads(e.data) | {"_id": e.id} async for e in sse.aiter_sse() if e.data]
        assert replayed and replayed[-1]["action"] == "cancelled"
        assert [int(e["_id"]) for e in replayed] == sorted({int(e["_id"]) for e in replayed})
        assert len(replayed) <= live.runtime.settings.activity_history
        last_id = replayed[-1]["_id"]
        done = await a.get(f"/collection/runs/{run_id}/activity", headers={"Last-Event-ID": last_id})
        assert done.status_code == 204


async def test_a_pause_reaches_the_executing_process_by_notification(
    make_identity: TokenFactory, serve_with: ServerFactory
) -> None:
    # Polling is slowed to a minute and the lease to two minutes, so only the NOTIFY can stop it in time.
    slow_poll = {"demo_latency_ms": 20, "run_control_poll_seconds": 60, "run_lease_seconds": 120}
    identity = await make_identity()
    async with serve_with(**slow_poll) as a_server, serve_with(**slow_poll) as b_server:
        await asyncio.wait_for(executor(a_server).listening.wait(), 30)
        async with a_server.client(identity.token) as a, b_server.client(identity.token) as b:
            run, feed = await start_run(a_server, a, CATEGORIES)
            try:
                await feed.until(lambda ev: any(e["action"] == "found" for e in ev))
                assert (await b.post(f"/collection/runs/{run['id']}/cancel")).status_code == 200
                events = await feed.until(terminal, timeout=10)
            finally:
                feed.close()
        assert events[-1]["action"] == "cancelled"
        assert not executor(a_server).is_executing(uuid.UUID(run["id"]))


async def test_a_finished_runs_feed_waits_for_the_events_another_process_stores(
    live: LiveServer, other: LiveServer, make_identity: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This process saw the run paused and never its end (no shared live stream without Redis): its feed
    serves the terminal events the other process stores moments later, instead of waiting forever on its own."""
    identity = await make_identity()
    async with live.client(identity.token) as api:
        run_id = uuid.UUID((await api.post("/collection/runs", json={"category_ids": CATEGORIES[:1]})).json()["id"])
        assert (await api.post(f"/collection/runs/{run_id}/cancel")).json()["status"] == "cancelled"
    pool = live.database.pool
    async with pool.connection() as conn:
        await history_repo.replace(conn, run_id=run_id, events=[])  # not stored yet
        row = await runs_repo.get_run_unscoped(conn, run_id=run_id)
    assert row is not None
    other.stream.push(run_id, ActivityEntry.create(0, "run", "paused"))  # the reader's process: a stale view

    looked = asyncio.Event()
    stored_after = activity_history.stored_after

    async def watched(*args: Any, **kwargs: Any) -> activity_history.StoredHistory:
        looked.set()
        return await stored_after(*args, **kwargs)

    monkeypatch.setattr(activity_history, "stored_after", watched)
    opening = asyncio.create_task(activity_feed.open_feed(pool, other.stream, run=row, last_event_id=None))
    await looked.wait()  # the reader found nothing stored; now the other process stores the run's end
    ended = [ActivityEntry.create(0, "run", "paused"), ActivityEntry.create(0, "run", "cancelled")]
    async with pool.connection() as conn:
        events = [StoredEvent(seq=n, data=e.model_copy(update={"seq": n}).to_json()) for n, e in enumerate(ended, 1)]
        await history_repo.replace(conn, run_id=run_id, events=events)
    feed = await asyncio.wait_for(opening, 30)
    assert isinstance(feed, activity_feed.StoredFeed)
    frames = []
    with contextlib.suppress(StopAsyncIteration):
        while True:
            frames.append(await feed.next_frame())
    assert len(frames) == 2 and b'"cancelled"' in (frames[-1] or b"")
