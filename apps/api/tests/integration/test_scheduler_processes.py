"""Two real server processes share one database and an every-minute schedule: one run per minute.

Three minutes of schedule time pass in about half a minute: both servers are given the same
test clock (SELLERCOLLECTION_SCHEDULER_CLOCK_ANCHOR / _SPEED), so they agree on when a minute
starts while running real ticks, real claims and real runs.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.support import create_token, demo_env, served_process

SPEED = 6  # one schedule minute every 10 real seconds


def _started_fires_until(db_url: str, schedule_id: str, until: datetime) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM schedule_fires WHERE schedule_id = %s AND fire_time <= %s", (schedule_id, until)
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.timeout(300)
def test_every_minute_schedule_with_two_servers_starts_exactly_one_run_per_minute(db_url: str) -> None:
    env = demo_env(
        db_url,
        SELLERCOLLECTION_DEMO_LATENCY_MS="0",
        SELLERCOLLECTION_SCHEDULER_TICK_SECONDS="0.2",
        SELLERCOLLECTION_SCHEDULER_CLOCK_SPEED=str(SPEED),
        SELLERCOLLECTION_SCHEDULER_CLOCK_ANCHOR=datetime.now(UTC).isoformat(),
    )
    token = create_token(env, "schedule-org", "schedule@example.com")
    with served_process(env) as one, served_process(env) as two:
        with one.client(token) as api:
            created = api.post(
                "/collection/schedules",
                json={"name": "Every minute", "category_ids": ["home-bath"], "cron_expression": "* * * * *"},
            )
            assert created.status_code == 201, created.text
        schedule_id = created.json()["id"]
        first = datetime.fromisoformat(created.json()["next_run_at"])
        third = first + timedelta(minutes=2)
        deadline = time.monotonic() + 4 * 60 / SPEED + 60
        # The servers' work is only visible in the database; poll it, bounded by the deadline.
        while _started_fires_until(db_url, schedule_id, third) < 3:
            assert time.monotonic() < deadline, "three fire times did not all fire"
            assert one.running() and two.running(), "a server died"
            time.sleep(0.2)

    with psycopg.connect(db_url) as conn:
        fired = conn.execute(
            "SELECT fire_time, outcome, run_id, claimed_by FROM schedule_fires "
            "WHERE schedule_id = %s ORDER BY fire_time",
            (schedule_id,),
        ).fetchall()
        runs = conn.execute(
            "SELECT id, trigger, status FROM collection_runs WHERE schedule_id = %s", (schedule_id,)
        ).fetchall()
    window = [f for f in fired if f[0] <= third]
    assert [f[0] for f in window] == [first, first + timedelta(minutes=1), third]
    assert [f[1] for f in window] == ["started"] * 3, window  # none skipped: each run ended within its minute
    run_ids = [f[2] for f in window]
    assert len(set(run_ids)) == 3
    # No run without its fire, and no fire with two runs, over everything the servers did.
    assert sorted(str(r[0]) for r in runs) == sorted(str(f[2]) for f in fired if f[1] == "started")
    assert all(r[1] == "schedule" for r in runs)
    print("fires claimed by:", [f[3] for f in fired])  # which process won each minute  # noqa: T201
