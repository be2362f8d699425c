"""A product's commit runs in its worker's writer: a pause that meets a writer holding a product loses nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from app.repositories.items import ProductPayload, WorkItem
from app.services import parallel_runner
from app.services.runs import pipeline
from app.services.runs.pipeline import RunContext
from tests.support import LiveServer, TokenFactory, start_run, terminal

CATEGORIES = ["electronics-computers", "baby-feeding", "beauty-makeup"]

SETTINGS: dict[str, Any] = {
    "demo_latency_ms": 2,
    "retry_wait_initial_seconds": 0.01,
    "activity_subscriber_queue_size": 100_000,
}


async def test_a_pause_while_a_writer_holds_a_product_commits_it_once_and_resume_loses_nothing(
    live: LiveServer, make_identity: TokenFactory, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    holding = asyncio.Event()
    release = asyncio.Event()
    stopped = asyncio.Event()
    held: list[int] = []
    store = pipeline._store_sellers
    settle = parallel_runner.ParallelCollectionRunner._settle

    async def held_store(ctx: RunContext, item: WorkItem[ProductPayload], *args: Any) -> tuple[list[str], list[str]]:
        if not held:
            # The first product's commit waits until the pause has begun.
            held.append(item.id)
            holding.set()
            await release.wait()
        return await store(ctx, item, *args)

    async def settle_seen(
        runner: parallel_runner.ParallelCollectionRunner, writer: asyncio.Task[Any], *args: Any, stopping: bool = False
    ) -> None:
        if stopping:
            stopped.set()  # a stopping worker waits for its writer
        await settle(runner, writer, *args, stopping=stopping)

    monkeypatch.setattr(pipeline, "_store_sellers", held_store)
    monkeypatch.setattr(parallel_runner.ParallelCollectionRunner, "_settle", settle_seen)

    identity = await make_identity()
    async with live.client(identity.token) as client:
        run, feed = await start_run(live, client, CATEGORIES)
        await holding.wait()
        pausing = asyncio.create_task(client.post(f"/collection/runs/{run['id']}/pause"))
        await stopped.wait()
        assert not pausing.done()  # the stop waits for the writer's commit
        release.set()
        paused = await pausing
        assert paused.status_code == 200 and paused.json()["status"] == "paused"
        at_pause = (await client.get(f"/collection/runs/{run['id']}")).json()

        with psycopg.connect(db_url) as conn:
            item = conn.execute("SELECT status, attempts FROM collection_items WHERE id = %s", (held[0],)).fetchone()
            in_flight = conn.execute(
                "SELECT count(*) FROM collection_items WHERE run_id = %s AND status = 'processing'", (run["id"],)
            ).fetchone()
            completed = conn.execute(
                "SELECT count(*) FROM collection_items WHERE run_id = %s AND kind = 'product' AND status = 'completed'",
                (run["id"],),
            ).fetchone()
        # The held product was committed before the run stopped, and only then announced.
        assert item == ("completed", 1)
        assert in_flight == (0,)
        before = await feed.until(lambda ev: any(e["action"] == "paused" for e in ev))
        found = [e for e in before if e["action"] == "found" and e["phase"] == "ebay"]
        assert completed == (len(found),)
        assert at_pause["products_searched"] >= len(found)

        assert (await client.post(f"/collection/runs/{run['id']}/resume")).json()["status"] == "running"
        events = await feed.until(terminal, timeout=120)
        final = (await client.get(f"/collection/runs/{run['id']}")).json()

    assert final["status"] == "completed"
    with psycopg.connect(db_url) as conn:
        products = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'completed') "
            "FROM collection_items WHERE run_id = %s AND kind = 'product'",
            (run["id"],),
        ).fetchone()
        held_attempts = conn.execute("SELECT attempts FROM collection_items WHERE id = %s", (held[0],)).fetchone()
    assert held_attempts == (1,)  # finished work was never redone
    assert products is not None and final["products_searched"] == products[0]
    # Every stored product was announced once: counters and events agree.
    found = [e for e in events if e["action"] == "found" and e["phase"] == "ebay"]
    assert len(found) == products[1]
