"""Schedules over real HTTP and PostgreSQL; the scheduler is driven tick by tick with an explicit `now`.

The module's server runs no schedule loop (so only the test decides when time passes), except in
the restart tests, which start servers whose loop really runs.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.db.pool import make_pool
from app.http.state import server_state
from app.main import create_app
from app.services.scheduling import schedules as schedules_service
from app.services.scheduling.scheduler import Scheduler
from tests.support import Identity, LiveServer, TokenFactory, serve_app

NY = "America/New_York"


# Runs stay open for a while (slow demo upstream), so "previous run still open" can be seen.
SETTINGS: dict[str, Any] = {"scheduler_enabled": False, "demo_latency_ms": 1000}


def scheduler(live: LiveServer) -> Scheduler:
    return server_state(live.app).scheduler


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def fires(live: LiveServer, schedule_id: str) -> list[dict[str, Any]]:
    async with live.database.pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT fire_time, fire_count, outcome, reason, run_id FROM schedule_fires "
                "WHERE schedule_id = %s ORDER BY fire_time",
                (schedule_id,),
            )
        ).fetchall()
    return list(rows)


async def schedule_runs(live: LiveServer, schedule_id: str) -> list[dict[str, Any]]:
    async with live.database.pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT * FROM collection_runs WHERE schedule_id = %s ORDER BY created_at", (schedule_id,)
            )
        ).fetchall()
    return list(rows)


async def set_next_run(live: LiveServer, schedule_id: str, at: datetime) -> None:
    async with live.database.pool.connection() as conn:
        await conn.execute("UPDATE collection_schedules SET next_run_at = %s WHERE id = %s", (at, schedule_id))


async def create(live: LiveServer, identity: Identity, **body: Any) -> dict[str, Any]:
    body = {"name": f"s-{uuid.uuid4().hex[:6]}", "category_ids": ["home-bath"], "cron_expression": "* * * * *", **body}
    async with live.client(identity.token) as client:
        response = await client.post("/collection/schedules", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# --- CRUD and invalid input --------------------------------------------------------------------


async def test_create_answers_next_run_and_the_next_five_fire_times(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    identity = await make_identity()
    before = datetime.now(UTC)
    created = await create(live, identity, cron_expression="30 2 * * *", timezone=NY, name="Nightly")
    assert created["description"] == "At 02:30 every day"
    times = [datetime.fromisoformat(t) for t in created["next_fire_times"]]
    assert len(times) == 5 and datetime.fromisoformat(created["next_run_at"]) == times[0] > before
    assert all(
        b - a == timedelta(days=1) or abs(b - a - timedelta(days=1)) == timedelta(hours=1)
        for a, b in itertools.pairwise(times)
    )
    assert created["last_run_at"] is None and created["last_run_id"] is None and created["enabled"] is True
    async with live.client(identity.token) as client:
        assert [s["name"] for s in (await client.get("/collection/schedules")).json()["schedules"]] == ["Nightly"]
        off = (await client.patch(f"/collection/schedules/{created['id']}", json={"enabled": False})).json()
        assert (off["enabled"], off["next_run_at"], off["next_fire_times"]) == (False, None, [])
        on = (
            await client.patch(
                f"/collection/schedules/{created['id']}", json={"enabled": True, "cron_expression": "@hourly"}
            )
        ).json()
        assert on["cron_expression"] == "0 * * * *" and len(on["next_fire_times"]) == 5
        presets = (await client.get("/amazon/presets")).json()["presets"]
        moved = (
            await client.patch(f"/collection/schedules/{created['id']}", json={"preset_id": presets[1]["id"]})
        ).json()
        assert (moved["preset_id"], moved["preset_name"], moved["category_ids"]) == (
            presets[1]["id"],
            presets[1]["name"],
            None,
        )
        assert (await client.delete(f"/collection/schedules/{created['id']}")).status_code == 204
        assert (await client.get(f"/collection/schedules/{created['id']}")).status_code == 404


async def test_invalid_input_is_422_or_404_with_a_message_and_nothing_is_stored(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    identity = await make_identity()
    other = await make_identity()
    async with live.client(other.token) as stranger:
        foreign = (
            await stranger.post("/amazon/presets", json={"name": "Theirs", "category_ids": ["home-bath"]})
        ).json()
    base = {"name": "S", "category_ids": ["home-bath"], "cron_expression": "0 3 * * *", "timezone": "UTC"}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"cron_expression": "61 * * * *"}, 422, "Bad minute"),
        ({"cron_expression": "every day"}, 422, "expected 5 fields"),
        ({"cron_expression": "* * * * * *"}, 422, "expected 5 fields"),
        ({"timezone": "Mars/Olympus"}, 422, "Unknown time zone 'Mars/Olympus'"),
        ({"category_ids": None, "preset_id": str(uuid.uuid4())}, 404, "Preset"),
        ({"category_ids": None, "preset_id": foreign["id"]}, 404, "Preset"),
        ({"category_ids": ["nope-9"]}, 422, "nope-9"),
        ({"category_ids": None}, 422, "exactly one"),
        ({"preset_id": foreign["id"]}, 422, "exactly one"),
        ({"name": "  "}, 422, "blank"),
    ]
    async with live.client(identity.token) as client:
        for change, status, message in cases:
            body = {k: v for k, v in {**base, **change}.items() if v is not None}
            response = await client.post("/collection/schedules", json=body)
            assert response.status_code == status, (change, response.text)
            assert message in str(response.json()["detail"]), (change, response.text)
        assert (await client.get("/collection/schedules")).json()["schedules"] == []

        kept = (await client.post("/collection/schedules", json=base)).json()
        assert (await client.post("/collection/schedules", json={**base, "name": "s"})).status_code == 409
        for change, status, message in cases[:6]:
            response = await client.patch(f"/collection/schedules/{kept['id']}", json=change)
            assert response.status_code == status and message in str(response.json()["detail"]), change
        assert (await client.get(f"/collection/schedules/{kept['id']}")).json() == kept  # unchanged
    async with live.client(other.token) as stranger:
        for response in (
            await stranger.get(f"/collection/schedules/{kept['id']}"),
            await stranger.patch(f"/collection/schedules/{kept['id']}", json={"name": "mine"}),
            await stranger.delete(f"/collection/schedules/{kept['id']}"),
            await stranger.get(f"/collection/schedules/{kept['id']}/fires"),
        ):
            assert response.status_code == 404 and response.json()["detail"] == "Schedule not found"


# --- firing ------------------------------------------------------------------------------------


async def test_a_due_schedule_starts_one_run_as_its_creator(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    async with live.client(identity.token) as client:
        preset = (await client.post("/amazon/presets", json={"name": "Bath", "category_ids": ["home-bath"]})).json()
    created = await create(live, identity, category_ids=None, preset_id=preset["id"])
    due = datetime.fromisoformat(created["next_run_at"])

    assert not [
        f for f in await scheduler(live).tick(now=due - timedelta(seconds=1)) if str(f.schedule_id) == created["id"]
    ]
    await scheduler(live).tick(now=due + timedelta(seconds=2))
    await scheduler(live).tick(now=due + timedelta(seconds=3))  # the same due time again: nothing
    [fire] = await fires(live, created["id"])
    assert (fire["fire_time"], fire["outcome"], fire["reason"]) == (due, "started", None)
    [run] = await schedule_runs(live, created["id"])
    assert run["id"] == fire["run_id"]
    assert (run["trigger"], run["status"], run["created_by"], run["preset_id"]) == (
        "schedule", "running", identity.user_id, uuid.UUID(preset["id"])
    )  # fmt: skip
    async with live.client(identity.token) as client:
        schedule = (await client.get(f"/collection/schedules/{created['id']}")).json()
        api_run = (await client.get(f"/collection/runs/{run['id']}")).json()
        await client.post(f"/collection/runs/{run['id']}/cancel")
    assert (schedule["last_run_id"], datetime.fromisoformat(schedule["last_run_at"])) == (str(run["id"]), due)
    assert datetime.fromisoformat(schedule["next_run_at"]) == due + timedelta(minutes=1)
    assert (api_run["trigger"], api_run["schedule_id"], api_run["settings"]["provider"]) == (
        "schedule",
        created["id"],
        "demo",
    )


async def test_two_schedulers_racing_fire_once(live: LiveServer, make_identity: TokenFactory, db_url: str) -> None:
    identity = await make_identity()
    created = await create(live, identity)
    now = datetime.fromisoformat(created["next_run_at"]) + timedelta(seconds=1)
    pools = [make_pool(db_url, min_size=1, max_size=4) for _ in range(2)]
    for pool in pools:
        await pool.open(wait=True)
    try:
        rivals = [
            Scheduler(pool=pool, settings=live.runtime.settings, executor=live.runtime.executor,
                      stream=live.runtime.activity_stream, clock=lambda: now)
            for pool in pools
        ]  # fmt: skip
        await asyncio.gather(*(rival.tick(now=now) for rival in rivals for _ in range(4)))
    finally:
        for pool in pools:
            await pool.close()
    assert [f["outcome"] for f in await fires(live, created["id"])] == ["started"]
    assert len(await schedule_runs(live, created["id"])) == 1


async def test_skipped_fires_are_recorded_with_their_reason_and_shown_in_history(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    identity = await make_identity(permissions=("admin.automation", "sellers.read"))
    async with live.client(identity.token) as client:
        assert (await client.patch("/collection/settings", json={"max_open_runs": 1})).status_code == 200
        blocker = (await client.post("/collection/runs", json={"category_ids": ["home-bath"]})).json()
    created = await create(live, identity, name="Every minute")
    due = datetime.fromisoformat(created["next_run_at"])

    await scheduler(live).tick(now=due + timedelta(seconds=1))
    [fire] = await fires(live, created["id"])
    assert fire["outcome"] == "skipped" and "limit 1" in fire["reason"]
    assert await schedule_runs(live, created["id"]) == []

    async with live.client(identity.token) as client:
        await client.post(f"/collection/runs/{blocker['id']}/cancel")
        await client.patch("/collection/settings", json={"max_open_runs": 3})
        await scheduler(live).tick(now=due + timedelta(minutes=1, seconds=1))
        [run] = await schedule_runs(live, created["id"])
        await client.post(f"/collection/runs/{run['id']}/pause")  # still open when the next minute comes
        await scheduler(live).tick(now=due + timedelta(minutes=2, seconds=1))
        listed = (await client.get(f"/collection/schedules/{created['id']}/fires")).json()["fires"]
        timeline = (await client.get("/history")).json()["entries"]
    assert [f["outcome"] for f in listed] == ["skipped", "started", "skipped"]
    assert f"the previous run {run['name']!r} ({run['id']}) is still paused" == listed[0]["reason"]
    shown = [e for e in timeline if e["kind"] == "schedule"]
    assert [(e["action"], e["trigger"]) for e in shown] == [("skipped", "schedule"), ("skipped", "schedule")]
    assert shown[0]["summary"].startswith("Every minute: the previous run")
    assert "limit 1" in shown[1]["summary"]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Spring forward (2026-03-08): 02:30 does not exist; it fires once, at 03:00 EDT.
        (utc(2026, 3, 7, 0, 0), utc(2026, 3, 10, 0, 0),
         [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)]),
        # Fall back (2026-11-01): 02:30 happens once, in EST.
        (utc(2026, 10, 31, 0, 0), utc(2026, 11, 3, 0, 0),
         [utc(2026, 10, 31, 6, 30), utc(2026, 11, 1, 7, 30), utc(2026, 11, 2, 7, 30)]),
    ],
)  # fmt: skip
async def test_daily_0230_new_york_fires_once_on_each_transition_day(
    live: LiveServer, make_identity: TokenFactory, start: datetime, end: datetime, expected: list[datetime]
) -> None:
    identity = await make_identity()
    created = await schedules_service.create_schedule(
        live.database.pool, org_id=identity.org_id, user_id=identity.user_id, name="Night", preset_id=None,
        category_ids=["home-bath"], cron_expression="30 2 * * *", timezone=NY, enabled=True, now=start,
    )  # fmt: skip
    now = start
    while now < end:  # a server ticking every 10 minutes through three days
        now += timedelta(minutes=10)
        await scheduler(live).tick(now=now)
    recorded = await fires(live, str(created.id))
    assert [f["fire_time"] for f in recorded] == expected
    assert {f["outcome"] for f in recorded} <= {"started", "skipped"}  # skipped: the previous run is still open
    await _cancel_all(live, identity)


async def _cancel_all(live: LiveServer, identity: Identity) -> None:
    async with live.client(identity.token) as client:
        for run in (await client.get("/collection/runs")).json()["runs"]:
            await client.post(f"/collection/runs/{run['id']}/cancel")


# --- restarts and the grace period --------------------------------------------------------------


async def restart_once(settings: Settings, tmp_path: Path, ticks: int = 3) -> None:
    """Start a server whose schedule loop runs, let it tick a few times, stop it."""
    looped = settings.model_copy(
        update={"scheduler_enabled": True, "scheduler_tick_seconds": 0.05, "data_dir": tmp_path}
    )
    async with serve_app(create_app(looped)) as server:
        await asyncio.wait_for(scheduler(server).wait_for_ticks(ticks), 30)


async def _daily_schedule_missed_by(live: LiveServer, identity: Identity, ago: timedelta) -> tuple[str, datetime]:
    missed = (datetime.now(UTC) - ago).replace(second=0, microsecond=0)
    created = await create(live, identity, cron_expression=f"{missed.minute} {missed.hour} * * *", timezone="UTC")
    await set_next_run(live, created["id"], missed)  # it came due while no server was running
    return created["id"], missed


async def test_a_restart_inside_the_grace_period_fires_the_missed_time_once(
    live: LiveServer, make_identity: TokenFactory, settings: Settings, tmp_path: Path
) -> None:
    identity = await make_identity()
    schedule_id, missed = await _daily_schedule_missed_by(live, identity, timedelta(minutes=30))
    await restart_once(settings, tmp_path)
    await restart_once(settings, tmp_path)  # a second restart must not fire it again
    [fire] = await fires(live, schedule_id)
    assert (fire["fire_time"], fire["outcome"]) == (missed, "started")
    assert [r["id"] for r in await schedule_runs(live, schedule_id)] == [fire["run_id"]]
    async with live.client(identity.token) as client:
        schedule = (await client.get(f"/collection/schedules/{schedule_id}")).json()
    assert datetime.fromisoformat(schedule["next_run_at"]) == missed + timedelta(days=1)
    await _cancel_all(live, identity)


async def test_a_fire_time_older_than_the_grace_period_is_recorded_as_missed(
    live: LiveServer, make_identity: TokenFactory, settings: Settings, tmp_path: Path
) -> None:
    identity = await make_identity(permissions=("admin.automation", "sellers.read"))
    schedule_id, missed = await _daily_schedule_missed_by(live, identity, timedelta(hours=2))
    await restart_once(settings, tmp_path)
    [fire] = await fires(live, schedule_id)
    assert (fire["fire_time"], fire["outcome"], fire["run_id"]) == (missed, "missed", None)
    assert "passed while no server was running" in fire["reason"]
    assert await schedule_runs(live, schedule_id) == []
    async with live.client(identity.token) as client:
        timeline = (await client.get("/history")).json()["entries"]
    assert [e["action"] for e in timeline if e["kind"] == "schedule"] == ["missed"]
