"""Acceptance: two `sellercollection serve` processes sharing PostgreSQL and Redis.

Start a run through A; read its feed through A and B at once (identical ids and content); pause
through B stops it in A; resume through B; kill -9 the executing A, B takes the run over and
completes it; a client that reconnects to B with its last id gets every later event exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.redis_support import redis_url, unique_prefix
from tests.support import (
    Event,
    FeedReader,
    ServedProcess,
    create_token,
    demo_env,
    finished_exactly,
    leaf_ids,
    served_process,
)


def has(action: str, after: int = 0) -> Callable[[list[Event]], bool]:
    return lambda events: any(e["action"] == action and e["phase"] == "run" for e in events[after:])


def count_found(n: int, after: int = 0) -> Callable[[list[Event]], bool]:
    return lambda events: sum(1 for e in events[after:] if e["action"] == "found") >= n


@pytest.fixture
def servers(db_url: str) -> Iterator[tuple[ServedProcess, ServedProcess, dict[str, str]]]:
    env = demo_env(
        db_url,
        REDIS_URL=redis_url(),
        SELLERCOLLECTION_REDIS_KEY_PREFIX=unique_prefix(),
        SELLERCOLLECTION_DEMO_LATENCY_MS="25",
        SELLERCOLLECTION_RUN_LEASE_SECONDS="2",
        SELLERCOLLECTION_RUN_CONTROL_POLL_SECONDS="0.3",
        SELLERCOLLECTION_ACTIVITY_HISTORY="5000",
    )
    with served_process(env) as a_server, served_process(env) as b_server:
        yield a_server, b_server, env


@pytest.mark.timeout(400)
async def test_two_processes_share_the_feed_control_and_the_run(
    servers: tuple[ServedProcess, ServedProcess, dict[str, str]], db_url: str
) -> None:
    a_server, b_server, env = servers
    token = create_token(env, "two-servers-org", "two@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    timeout = httpx.Timeout(30, read=120)
    async with (
        httpx.AsyncClient(base_url=a_server.base, headers=headers, timeout=timeout) as a,
        httpx.AsyncClient(base_url=b_server.base, headers=headers, timeout=timeout) as b,
    ):
        ids = leaf_ids((await a.get("/amazon/categories")).json())[:4]
        run = (await a.post("/collection/runs", json={"name": "two servers", "category_ids": ids})).json()
        url = f"/collection/runs/{run['id']}/activity"
        assert (await a.post(f"/collection/runs/{run['id']}/start")).status_code == 200

        via_a = FeedReader(a, url).start()
        via_b = FeedReader(b, url).start()
        await via_a.until(count_found(3))
        await via_b.until(count_found(3))
        assert (await b.get(f"/collection/runs/{run['id']}/progress")).json()["executing_here"] is False

        # Pause through B: A, which executes the run, stops it and says so.
        assert (await b.post(f"/collection/runs/{run['id']}/pause")).json()["status"] == "paused"
        paused_at = len(await via_b.until(has("paused")))
        # Resume through B: B claims it; pause and resume through A move it back to A.
        assert (await b.post(f"/collection/runs/{run['id']}/resume")).json()["status"] == "running"
        assert (await b.get(f"/collection/runs/{run['id']}/progress")).json()["executing_here"] is True
        await via_b.until(count_found(2, after=paused_at))
        assert (await a.post(f"/collection/runs/{run['id']}/pause")).status_code == 200
        second_pause = len(await via_b.until(lambda ev: sum(has("paused")([e]) for e in ev) >= 2))
        assert (await a.post(f"/collection/runs/{run['id']}/resume")).status_code == 200
        assert (await a.get(f"/collection/runs/{run['id']}/progress")).json()["executing_here"] is True
        await via_a.until(count_found(3, after=second_pause))

        # kill -9 A mid-run. B adopts the run once A's lease lapses and completes it.
        a_server.kill9()
        await asyncio.wait_for(via_a.task, 30)  # type: ignore[arg-type]
        assert via_a.ended.startswith("broken") or via_a.ended == "closed"
        seen_by_a = via_a.ids()
        reconnected = FeedReader(b, url, last_id=str(seen_by_a[-1])).start()
        final_events = await via_b.until(has("complete"), timeout=240)
        await reconnected.until(has("complete"), timeout=60)
        final = (await b.get(f"/collection/runs/{run['id']}")).json()

    # Between the two pauses no worker of A's went on after "paused" (it stopped, it did not linger).
    pause_index = next(i for i, e in enumerate(final_events) if e["action"] == "paused")
    assert final_events[pause_index + 1]["action"] == "resumed"
    # Identical ids and content through A and B while both were connected.
    assert via_a.events == via_b.events[: len(via_a.events)]
    # One numbering, upwards, each id once, no gap (Redis keeps everything within the history).
    all_ids = via_b.ids()
    assert all_ids == list(range(1, len(all_ids) + 1))
    assert not any(e["action"] == "gap" for e in via_b.events)
    # The reconnecting client gets every later event exactly once.
    assert reconnected.ids() == list(range(seen_by_a[-1] + 1, all_ids[-1] + 1))
    assert reconnected.events == [e for e in via_b.events if e["sse_id"] and int(e["sse_id"]) > seen_by_a[-1]]

    # Two pauses, each repeating at most the 5 products then being searched (a pause waits for the
    # writers' commits), and one kill, which also repeats the products the writers were committing.
    record = finished_exactly(db_url, final, "two-servers-org", repeats_at_most=5 + 5 + 10)
    assert record.sellers == final["sellers_new"]
