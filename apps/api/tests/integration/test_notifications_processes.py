"""Deliveries with real `serve` processes: two of them send every event once; a kill -9 loses none."""

from __future__ import annotations

import itertools
from collections import Counter

import psycopg
import pytest

from tests.receivers import WebhookReceiver, wait_delivered
from tests.support import create_token, demo_env, served_process, start_served_run

pytestmark = pytest.mark.timeout(300)


def _env(db_url: str) -> dict[str, str]:
    return demo_env(db_url, SELLERCOLLECTION_DEMO_LATENCY_MS="0", SELLERCOLLECTION_WEBHOOK_ALLOW_PRIVATE="true")


def _deliveries(db_url: str, org: str) -> list[tuple[str, int, int]]:
    """(status, tries, tries logged) of each of the org's deliveries."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            """
            SELECT d.status, d.attempts, (SELECT count(*) FROM notification_attempts a WHERE a.delivery_id = d.id)
            FROM notification_deliveries d JOIN orgs o ON o.id = d.org_id WHERE o.name = %s
            """,
            (org,),
        ).fetchall()
    return [(status, tries, int(logged)) for status, tries, logged in rows]


def test_with_two_servers_every_event_is_delivered_exactly_once(db_url: str) -> None:
    env = _env(db_url)
    token = create_token(env, "two-servers-notify", "notify@example.com")
    with WebhookReceiver() as receiver, served_process(env) as one, served_process(env) as two:
        receiver.delay = 0.02  # a receiver that takes a moment, so the servers' claims overlap
        with one.client(token) as a, two.client(token) as b:
            hooks = [
                a.post(
                    "/notifications/webhooks", json={"url": receiver.url(f"/h{n}"), "events": ["run.completed"]}
                ).json()["id"]
                for n in range(4)
            ]
            apis = itertools.cycle([a, b])
            for n in range(24):  # pings through both servers, spread over the four webhooks
                assert next(apis).post(f"/notifications/webhooks/{hooks[n % 4]}/test").status_code == 202
            runs = [start_served_run(a, "From one", 1), start_served_run(b, "From two", 1)]
            expected = 24 + len(runs) * len(hooks)  # each completion goes to every webhook
            receiver.wait_for(lambda got: len(got) >= expected, timeout=120)
            wait_delivered(db_url, "two-servers-notify", expected)
    # Both servers have stopped: whatever either sent is in `received`.
    sent = Counter((r.path, r.event_id) for r in receiver.received)
    assert len(sent) == expected and set(sent.values()) == {1}, sent.most_common(3)
    completed = {r.payload["data"]["id"] for r in receiver.received if r.payload["type"] == "run.completed"}
    assert completed == {run["id"] for run in runs}
    assert _deliveries(db_url, "two-servers-notify") == [("delivered", 1, 1)] * expected
    with psycopg.connect(db_url) as conn:
        senders = conn.execute("SELECT sent_by, count(*) FROM notification_attempts GROUP BY sent_by").fetchall()
    print("deliveries sent by:", senders)  # noqa: T201


def test_deliveries_pending_when_serve_is_killed_are_sent_after_the_restart(db_url: str) -> None:
    env = _env(db_url)
    token = create_token(env, "killed-notify", "killed@example.com")
    with WebhookReceiver() as receiver:
        receiver.holding.set()  # the receiver keeps the first delivery in flight until released
        with served_process(env) as served:
            with served.client(token) as api:
                hook = api.post("/notifications/webhooks", json={"url": receiver.url(), "events": ["run.failed"]})
                pings = [api.post(f"/notifications/webhooks/{hook.json()['id']}/test").json() for _ in range(3)]
            [in_flight] = receiver.wait_for(lambda got: len(got) == 1)
            served.kill9()
        receiver.release()
        # Nothing was recorded as sent: the killed process's transaction died with it.
        assert sorted(_deliveries(db_url, "killed-notify")) == [("pending", 0, 0)] * 3
        with served_process(env):
            expected = {p["event_id"] for p in pings}
            got = receiver.wait_for(lambda got: {r.event_id for r in got} >= expected and len(got) >= 4)
            wait_delivered(db_url, "killed-notify", 3)
    times = Counter(r.event_id for r in got)
    # The one in flight at the kill is sent again with the same event id; the others once.
    assert times[in_flight.event_id] == 2 and sorted(times.values()) == [1, 1, 2]
