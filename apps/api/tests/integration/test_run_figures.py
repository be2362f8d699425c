"""A run's own figures over real HTTP: active and paused time apart, skipped products by reason, the forecast,
and the sellers count that follows the filters."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg

from tests.support import LiveServer, TokenFactory, run_event, start_run, terminal

# Enough products that the demo marketplace lists a few without a price (about one in forty).
CATEGORIES = ["electronics-computers", "baby-feeding", "beauty-makeup", "auto-car-care", "appliances-microwaves"]

SETTINGS: dict[str, Any] = {
    "demo_latency_ms": 2,
    "demo_price_per_1000": 2.0,
    "retry_wait_initial_seconds": 0.01,
    "activity_subscriber_queue_size": 100_000,
}


def _seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


async def test_paused_time_is_kept_apart_from_active_time(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    async with live.client(identity.token) as client:
        run, feed = await start_run(live, client, CATEGORIES)
        path = f"/collection/runs/{run['id']}"
        await feed.until(lambda events: any(e["phase"] == "ebay" and e["action"] == "found" for e in events))
        paused = (await client.post(f"{path}/pause")).json()
        await feed.until(run_event("paused"))
        first = (await client.get(path)).json()
        second = (await client.get(path)).json()
        resumed = (await client.post(f"{path}/resume")).json()
        await feed.until(terminal)
        final = (await client.get(path)).json()
        feed.close()

    assert paused["status"] == "paused"
    # While paused the active time stands still and the paused time grows.
    assert first["active_seconds"] == second["active_seconds"] == paused["active_seconds"]
    assert 0 <= first["paused_seconds"] <= second["paused_seconds"]
    assert resumed["status"] == "running" and resumed["paused_seconds"] >= second["paused_seconds"] > 0
    # Once over: active + paused is the whole time from start to end, and the pause counts only once.
    assert final["status"] == "completed"
    wall = _seconds(final["started_at"], final["completed_at"])
    assert abs(final["active_seconds"] + final["paused_seconds"] - wall) < 0.01
    assert final["paused_seconds"] == resumed["paused_seconds"]
    assert 0 < final["active_seconds"] < wall


async def test_progress_names_skipped_products_and_forecasts_the_cost(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    identity = await make_identity()
    async with live.client(identity.token) as client:
        run, feed = await start_run(live, client, CATEGORIES)
        await feed.until(terminal)
        feed.close()
        progress = (await client.get(f"/collection/runs/{run['id']}/progress")).json()
        pending = (await client.post("/collection/runs", json={"category_ids": CATEGORIES[:1]})).json()
        not_started = (await client.get(f"/collection/runs/{pending['id']}/progress")).json()

    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT result ->> 'reason', count(*) FROM collection_items "
            "WHERE run_id = %s AND kind = 'product' AND status = 'skipped' GROUP BY 1",
            (run["id"],),
        ).fetchall()
    skipped = dict(rows)
    assert skipped, "the demo marketplace lists some products without a price"
    assert {s["reason"]: s["count"] for s in progress["skipped_products"]} == skipped
    assert "no usable price" in skipped

    final = progress["run"]
    assert final["status"] == "completed" and Decimal(str(final["upstream_cost"])) > 0
    # Nothing is left of a finished run: no time left to wait, and the cost is the cost.
    assert progress["forecast"]["eta_seconds"] is None
    assert progress["forecast"]["projected_cost"] == final["upstream_cost"]
    assert not_started["forecast"] == {"eta_seconds": None, "products_per_minute": None, "projected_cost": None}
    assert not_started["run"]["active_seconds"] is None and not_started["run"]["paused_seconds"] == 0
    assert not_started["skipped_products"] == []


async def test_the_sellers_list_counts_what_matches_its_filters(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    names = [f"Count Match {i}" for i in range(13)] + [f"Other Seller {i}" for i in range(20)]
    async with live.client(identity.token) as client:
        added = (await client.post("/sellers/bulk", json={"names": names})).json()
        flag_ids = [s["id"] for s in (await client.get("/sellers", params={"search": "count match"})).json()["sellers"]]
        await client.post("/sellers/flag", json={"ids": flag_ids[:4], "flagged": True})
        everyone = (await client.get("/sellers", params={"limit": 5})).json()
        searched = (await client.get("/sellers", params={"search": "Count Match", "limit": 5})).json()
        flagged = (await client.get("/sellers", params={"flagged": "true"})).json()
        both = (await client.get("/sellers", params={"flagged": "false", "search": "count"})).json()
        nothing = (await client.get("/sellers", params={"search": "zzz"})).json()
        next_page = {"search": "Count Match", "limit": 5, "cursor": searched["next_cursor"]}
        second_page = (await client.get("/sellers", params=next_page)).json()

    assert len(added["added"]) == 33
    assert (everyone["total_in_org"], everyone["total_matching"]) == (33, 33)
    assert (searched["total_in_org"], searched["total_matching"], len(searched["sellers"])) == (33, 13, 5)
    assert second_page["total_matching"] == 13  # every page of the same filters says the same
    assert flagged["total_matching"] == 4 and both["total_matching"] == 9
    assert nothing["total_matching"] == 0 and nothing["total_in_org"] == 33
