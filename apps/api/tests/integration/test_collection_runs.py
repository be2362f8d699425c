"""Run lifecycle and pipeline over real HTTP, on the offline demo marketplace."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import psycopg

from tests.support import Feed, LiveServer, ServerFactory, TokenFactory, leaf_ids, start_run, terminal

CATEGORIES = ["electronics-computers", "baby-feeding", "beauty-makeup", "auto-car-care"]


# This module's settings (conftest's `settings` fixture applies them).
SETTINGS: dict[str, Any] = {
    "demo_latency_ms": 2,
    "retry_wait_initial_seconds": 0.01,
    "activity_subscriber_queue_size": 100_000,
}


async def known_category_ids(live: LiveServer, token: str) -> list[str]:
    async with live.client(token) as client:
        catalogue = (await client.get("/amazon/categories")).json()
    return leaf_ids(catalogue)


async def test_catalogue_has_fifteen_departments_of_five(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    ids = await known_category_ids(live, identity.token)
    assert len(ids) == 75 and len(set(ids)) == 75
    assert set(CATEGORIES) <= set(ids)


async def test_create_validates_categories_and_limits_open_runs(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    async with live.client(identity.token) as client:
        empty = await client.post("/collection/runs", json={"category_ids": []})
        unknown = await client.post("/collection/runs", json={"category_ids": ["electronics-computers", "bogus-1"]})
        not_json = await client.post("/collection/runs", content=b"{", headers={"content-type": "application/json"})
        created = [await client.post("/collection/runs", json={"category_ids": CATEGORIES[:1] * 2}) for _ in range(3)]
        over = await client.post("/collection/runs", json={"category_ids": CATEGORIES[:1]})
    assert empty.status_code == 422 and "category_ids" in json.dumps(empty.json())
    assert unknown.status_code == 422 and "bogus-1" in unknown.json()["detail"]
    assert "electronics-computers" not in unknown.json()["detail"]
    assert not_json.status_code == 422
    assert [r.status_code for r in created] == [201, 201, 201]
    assert created[0].json()["status"] == "pending"
    assert created[0].json()["category_ids"] == ["electronics-computers"]  # repeats collapse
    assert created[0].json()["name"].startswith("Collection ")
    assert over.status_code == 429 and "limit 3" in over.json()["detail"]


async def test_full_run_completes_with_consistent_counters_and_snapshot(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    identity = await make_identity()
    async with live.client(identity.token) as client:
        run = (await client.post("/collection/runs", json={"name": "full", "category_ids": CATEGORIES})).json()
        feed = Feed(live, run["id"])
        started = await client.post(f"/collection/runs/{run['id']}/start")
        assert started.status_code == 200 and started.json()["status"] == "running"
        again = await client.post(f"/collection/runs/{run['id']}/start")
        assert again.status_code == 200  # idempotent
        events = await feed.until(terminal)
        final = (await client.get(f"/collection/runs/{run['id']}")).json()
        progress = (await client.get(f"/collection/runs/{run['id']}/progress")).json()

    assert final["status"] == "completed" and final["phase"] == "done"
    assert final["categories_completed"] == final["categories_total"] == 4
    with psycopg.connect(db_url) as conn:
        products = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status IN ('completed', 'skipped')), max(attempts) "
            "FROM collection_items WHERE run_id = %s AND kind = 'product'",
            (run["id"],),
        ).fetchone()
        sellers = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE first_seen_run_id = %s) FROM sellers WHERE org_id = %s",
            (run["id"], identity.org_id),
        ).fetchone()
    assert products is not None and sellers is not None
    assert final["products_total"] == products[0] == products[1] == final["products_searched"] > 0
    assert products[2] == 1  # nothing was fetched twice
    assert final["sellers_new"] == sellers[1] == sellers[0] > 0
    assert final["sellers_found"] >= final["sellers_new"]
    assert final["seller_count_snapshot"] == sellers[0]

    actions = [e["action"] for e in events]
    assert actions[0] == "started"
    assert {"fetching", "found", "uploading", "inserted", "complete"} <= set(actions)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    done = events[-1]
    assert done["action"] == "complete" and done["phase"] == "run" and done["new_sellers_count"] == final["sellers_new"]
    workers = {e["worker_id"] for e in events if e["action"] == "fetching"}
    assert workers == {1, 2, 3, 4, 5}
    ebay_fetch = next(e for e in events if e["action"] == "fetching" and e["phase"] == "ebay")
    params = ebay_fetch["api_params"]
    assert (
        params["price_min"] == round(params["amazon_price"] * 1.8)
        or abs(params["price_min"] - params["amazon_price"] * 1.8) <= 1
    )
    assert progress["workers"] == [] and progress["executing_here"] is False
    assert {"kind": "category", "status": "completed", "count": 4} in progress["items"]


async def test_pause_keeps_finished_work_and_resume_finishes_the_rest(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    identity = await make_identity()
    ids = await known_category_ids(live, identity.token)
    async with live.client(identity.token) as client:
        run, feed = await start_run(live, client, ids[:10])
        await feed.until(lambda ev: sum(e["action"] == "found" and e["phase"] == "ebay" for e in ev) >= 20)
        paused = await client.post(f"/collection/runs/{run['id']}/pause")
        assert paused.status_code == 200 and paused.json()["status"] == "paused"
        assert (await client.post(f"/collection/runs/{run['id']}/pause")).status_code == 200  # idempotent
        bad = await client.post(f"/collection/runs/{run['id']}/start")
        assert bad.status_code == 409 and bad.json()["detail"] == "Cannot start a run that is paused"

        with psycopg.connect(db_url) as conn:
            done_before = {
                r[0]
                for r in conn.execute(
                    "SELECT id FROM collection_items WHERE run_id = %s AND status = 'completed'", (run["id"],)
                )
            }
            in_flight = conn.execute(
                "SELECT count(*) FROM collection_items WHERE run_id = %s AND status = 'processing'", (run["id"],)
            ).fetchone()
        assert in_flight == (0,)
        assert len(done_before) >= 20

        last = await live.stream.last_seq(uuid.UUID(run["id"]))
        assert (await client.post(f"/collection/runs/{run['id']}/resume")).json()["status"] == "running"
        events = await feed.until(terminal, timeout=120)
        final = (await client.get(f"/collection/runs/{run['id']}")).json()
    assert final["status"] == "completed"
    run_actions = [e["action"] for e in events if e["phase"] == "run"]
    assert run_actions == ["started", "paused", "resumed", "complete"]
    with psycopg.connect(db_url) as conn:
        attempts = dict(
            conn.execute("SELECT id, attempts FROM collection_items WHERE run_id = %s", (run["id"],)).fetchall()
        )
        products = conn.execute(
            "SELECT count(*) FROM collection_items WHERE run_id = %s AND kind = 'product'", (run["id"],)
        ).fetchone()
    assert all(attempts[item_id] == 1 for item_id in done_before)  # finished work was never redone
    assert products is not None and final["products_searched"] == products[0]
    assert last is not None and last > 0


async def test_cancel_stops_the_run_and_ends_the_feed(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    ids = await known_category_ids(live, identity.token)
    async with live.client(identity.token) as client:
        run, feed = await start_run(live, client, ids[:10])
        await feed.until(lambda ev: any(e["phase"] == "ebay" for e in ev))
        cancelled = await client.post(f"/collection/runs/{run['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert (await client.post(f"/collection/runs/{run['id']}/cancel")).status_code == 200
        assert (await client.post(f"/collection/runs/{run['id']}/resume")).status_code == 409
        events = await feed.until(terminal)
        snapshot = (await client.get(f"/collection/runs/{run['id']}")).json()
        later = (await client.get(f"/collection/runs/{run['id']}")).json()
    assert events[-1]["action"] == "cancelled"
    assert not live.runtime.executor.is_executing(uuid.UUID(run["id"]))
    assert snapshot["products_searched"] == later["products_searched"]  # nothing moves after cancel


async def test_two_concurrent_runs_share_sellers_without_duplicates(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    identity = await make_identity()
    async with live.client(identity.token) as client:
        # Both search everything (refresh "all"), so both meet every seller at once.
        body = {"category_ids": CATEGORIES, "refresh": "all"}
        runs = [(await client.post("/collection/runs", json=body)).json() for _ in range(2)]
        feeds = [Feed(live, r["id"]) for r in runs]
        await asyncio.gather(*(client.post(f"/collection/runs/{r['id']}/start") for r in runs))
        await asyncio.gather(*(f.until(terminal, timeout=120) for f in feeds))
        finals = [(await client.get(f"/collection/runs/{r['id']}")).json() for r in runs]
    assert [f["status"] for f in finals] == ["completed", "completed"]
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT normalized_name) FROM sellers WHERE org_id = %s", (identity.org_id,)
        ).fetchone()
    assert row is not None and row[0] == row[1]
    # Each seller was new to exactly one of the two runs.
    assert finals[0]["sellers_new"] + finals[1]["sellers_new"] == row[0]
    assert finals[0]["sellers_found"] == finals[1]["sellers_found"]


async def test_consecutive_upstream_failures_pause_the_run_with_a_reason(
    serve_with: ServerFactory, make_identity: TokenFactory
) -> None:
    failing = {"demo_latency_ms": 1, "demo_error_rate": 1.0, "upstream_attempts": 1, "retry_wait_initial_seconds": 0.01}
    identity = await make_identity()
    async with serve_with(**failing) as server, server.client(identity.token) as client:
        ids = await known_category_ids(server, identity.token)
        run, feed = await start_run(server, client, ids[:12])
        events = await feed.until(lambda ev: any(e["action"] == "paused" for e in ev))
        final = (await client.get(f"/collection/runs/{run['id']}")).json()
    assert final["status"] == "paused"
    assert final["status_reason"].startswith("Paused after 5 consecutive failures")
    # Five in a row trip the breaker; a task already failing in flight at that moment may add one more.
    assert 5 <= final["failed_items"] < 10
    # In-flight attempts that failed as the breaker tripped report an error too, then go back to pending.
    assert sum(e["action"] == "error" for e in events) >= final["failed_items"]


async def test_other_orgs_runs_are_invisible(live: LiveServer, make_identity: TokenFactory) -> None:
    owner = await make_identity()
    stranger = await make_identity()
    async with live.client(owner.token) as client:
        run = (await client.post("/collection/runs", json={"category_ids": CATEGORIES[:1]})).json()
    async with live.client(stranger.token) as client:
        for method, path in [
            ("GET", f"/collection/runs/{run['id']}"),
            ("GET", f"/collection/runs/{run['id']}/progress"),
            ("POST", f"/collection/runs/{run['id']}/start"),
            ("POST", f"/collection/runs/{run['id']}/pause"),
            ("POST", f"/collection/runs/{run['id']}/resume"),
            ("POST", f"/collection/runs/{run['id']}/cancel"),
        ]:
            response = await client.request(method, path)
            assert response.status_code == 404, (method, path)
            assert response.json() == {"detail": "Run not found"}
        listed = (await client.get("/collection/runs")).json()
    assert all(r["id"] != run["id"] for r in listed["runs"])
    async with live.client(owner.token) as client:
        mine = (await client.get("/collection/runs?limit=1")).json()
        bad_limit = await client.get("/collection/runs?limit=0")
    assert mine["runs"][0]["id"] == run["id"] and mine["limit"] == 1
    assert bad_limit.status_code == 422
