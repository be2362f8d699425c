"""Webhook deliveries end to end: real runs and schedules, a real HTTP receiver on loopback, signatures checked.

The receiver is on 127.0.0.1, so the module's servers allow private addresses
(SELLERCOLLECTION_WEBHOOK_ALLOW_PRIVATE), as self-hosting does. The schedule loop is off: the test
fires schedules itself, tick by tick with an explicit time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from app.http.state import server_state
from app.services.notifications import sealing
from tests.receivers import WebhookReceiver, delivery_log, readme_verify
from tests.support import LiveServer, ServerFactory, TokenFactory, leaf_ids, run_event, start_run, terminal

SETTINGS: dict[str, Any] = {"webhook_allow_private": True, "scheduler_enabled": False}
RUN_EVENTS = ["run.cancelled", "run.completed", "run.failed", "run.paused"]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


async def subscribe(
    api: httpx.AsyncClient, receiver: WebhookReceiver, events: list[str], path: str = "/hook"
) -> dict[str, Any]:
    created = await api.post("/notifications/webhooks", json={"url": receiver.url(path), "events": events})
    assert created.status_code == 201, created.text
    hook: dict[str, Any] = created.json()
    return hook


def of_type(event_type: str) -> Any:
    return lambda got: any(r.payload["type"] == event_type for r in got)


async def best_new_sellers_of(live: LiveServer, run_id: str) -> list[dict[str, Any]]:
    """The run's five best-scored sellers among those it found first, straight from the table."""
    async with live.database.pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT id, display_name, score FROM sellers WHERE first_seen_run_id = %s AND score IS NOT NULL "
                'ORDER BY score DESC, products_matched DESC NULLS LAST, normalized_name COLLATE "C", id LIMIT 5',
                (run_id,),
            )
        ).fetchall()
    return [{"id": str(r["id"]), "name": r["display_name"], "score": r["score"]} for r in rows]


async def test_a_runs_completion_arrives_signed_and_the_signature_checks(
    live: LiveServer, make_identity: TokenFactory, receiver: WebhookReceiver
) -> None:
    me = await make_identity()
    verify = readme_verify()
    async with live.client(me.token) as api:
        hook = await subscribe(api, receiver, RUN_EVENTS)
        ids = leaf_ids((await api.get("/amazon/categories")).json())
        run, feed = await start_run(live, api, ids[:2], name="Nightly kitchen")
        await feed.until(terminal)
        [got] = await receiver.until(of_type("run.completed"))
        final = (await api.get(f"/collection/runs/{run['id']}")).json()
        log = await delivery_log(api, 1)

    assert verify(hook["secret"], got.body, got.headers["x-sellercollection-signature"])
    assert not verify(hook["secret"], got.body + b" ", got.headers["x-sellercollection-signature"])
    assert not verify("whsec_another", got.body, got.headers["x-sellercollection-signature"])
    payload = got.payload
    assert set(payload) == {"id", "type", "created_at", "org_id", "data"}
    assert payload["org_id"] == str(me.org_id) and got.headers["x-sellercollection-event-id"] == payload["id"]
    data = payload["data"]
    assert data["id"] == run["id"] and data["name"] == "Nightly kitchen" and data["status"] == "completed"
    assert data["trigger"] == "manual" and data["reason"] is None
    assert data["counts"] == {
        "sellers_found": final["sellers_found"],
        "sellers_new": final["sellers_new"],
        "requests_total": final["requests_total"],
        "upstream_cost": final["upstream_cost"],
    }
    assert final["sellers_new"] > 0 and final["requests_total"] > 0
    assert data["url"] == f"http://127.0.0.1:8000/runs/{run['id']}"
    assert data["best_new_sellers"] == await best_new_sellers_of(live, run["id"])
    assert len(data["best_new_sellers"]) == 5
    assert [(d["event_type"], d["outcome"], d["status_code"], d["attempt"]) for d in log] == [
        ("run.completed", "delivered", 200, 1)
    ]
    assert log[0]["event_id"] == payload["id"] and log[0]["target"] == receiver.url()


async def test_a_receiver_answering_500_once_gets_the_same_event_again_then_succeeds(
    live: LiveServer, make_identity: TokenFactory, receiver: WebhookReceiver
) -> None:
    me = await make_identity()
    receiver.answers.append((500, b"x" * 5000 + "é".encode()))
    async with live.client(me.token) as api:
        hook = await subscribe(api, receiver, ["run.failed"])
        started = time.monotonic()
        ping = (await api.post(f"/notifications/webhooks/{hook['id']}/test")).json()
        first, second = await receiver.until(lambda got: len(got) == 2)
        retried_after = time.monotonic() - started
        log = await delivery_log(api, 2)
    assert first.body == second.body and first.event_id == second.event_id == ping["event_id"]
    assert first.payload["type"] == "ping"
    verify = readme_verify()
    assert all(verify(hook["secret"], r.body, r.headers["x-sellercollection-signature"]) for r in (first, second))
    assert retried_after < 10  # the first retry comes within 10 s
    newest, oldest = log
    assert (oldest["attempt"], oldest["outcome"], oldest["status_code"]) == (1, "retrying", 500)
    assert oldest["error"] == "HTTP 500 Internal Server Error" and oldest["next_attempt_at"] is not None
    assert len(oldest["response_body"].encode()) == 1024 and set(oldest["response_body"]) == {"x"}
    assert (newest["attempt"], newest["outcome"], newest["status_code"]) == (2, "delivered", 200)
    assert newest["delivery_id"] == oldest["delivery_id"] and newest["response_body"] == "ok"


async def test_cancel_pause_and_failure_are_sent_with_their_reasons_to_who_asked(
    live: LiveServer, make_identity: TokenFactory, receiver: WebhookReceiver, serve_with: ServerFactory
) -> None:
    me = await make_identity()
    async with live.client(me.token) as api:
        await subscribe(api, receiver, RUN_EVENTS, "/all")
        await subscribe(api, receiver, ["run.completed"], "/completed-only")
        ids = leaf_ids((await api.get("/amazon/categories")).json())
        pending = (await api.post("/collection/runs", json={"category_ids": ids[:1], "name": "Never started"})).json()
        assert (await api.post(f"/collection/runs/{pending['id']}/cancel")).status_code == 200
        [cancelled] = await receiver.until(of_type("run.cancelled"))
        # A run recording the oxylabs provider, on a server without its credentials, fails when it is executed.
        doomed = (await api.post("/collection/runs", json={"category_ids": ids[:1]})).json()
        async with live.database.pool.connection() as conn:
            await conn.execute("UPDATE collection_runs SET provider = 'oxylabs' WHERE id = %s", (doomed["id"],))
        await api.post(f"/collection/runs/{doomed['id']}/start")
        await receiver.until(of_type("run.failed"))
    # The breaker: a server whose upstream always fails pauses the run it executes.
    failing = {"demo_error_rate": 1.0, "upstream_attempts": 1, "retry_wait_initial_seconds": 0.01}
    async with serve_with(webhook_allow_private=True, **failing) as server, server.client(me.token) as api:
        run, feed = await start_run(server, api, ids[:12])
        await feed.until(run_event("paused"))
        got = await receiver.until(of_type("run.paused"))
    by_type = {r.payload["type"]: r for r in got}
    assert cancelled.payload["data"]["reason"] == "Cancelled by a user"
    assert cancelled.payload["data"]["status"] == "cancelled" and cancelled.path == "/all"
    assert "OXYLABS_USERNAME" in by_type["run.failed"].payload["data"]["reason"]
    assert by_type["run.paused"].payload["data"]["id"] == run["id"]
    assert by_type["run.paused"].payload["data"]["reason"].startswith("Paused after 5 consecutive failures")
    assert {r.path for r in got} == {"/all"}  # the run.completed-only subscription heard of none of these


async def test_skipped_and_missed_schedule_fires_are_sent_with_the_reason(
    live: LiveServer, make_identity: TokenFactory, receiver: WebhookReceiver
) -> None:
    me = await make_identity()
    async with live.client(me.token) as api:
        await subscribe(api, receiver, ["schedule.skipped", "schedule.missed"])
        ids = leaf_ids((await api.get("/amazon/categories")).json())
        schedule = (
            await api.post(
                "/collection/schedules",
                json={"name": "Hourly kitchen", "category_ids": ids[:1], "cron_expression": "0 * * * *"},
            )
        ).json()
        # The org may have one open run, and has one (pending): the fire is skipped.
        await api.patch("/collection/settings", json={"max_open_runs": 1})
        await api.post("/collection/runs", json={"category_ids": ids[:1]})
        first = datetime.fromisoformat(schedule["next_fire_times"][0])
        # Five hours later: four fire times passed beyond the hour's grace (missed), the latest is due.
        await server_state(live.app).scheduler.tick(first + timedelta(hours=4, minutes=1))
        got = await receiver.until(lambda r: len(r) == 2)
    events = {r.payload["type"]: r.payload["data"] for r in got}
    assert events["schedule.missed"]["fire_count"] == 4 and events["schedule.missed"]["id"] == schedule["id"]
    assert "passed while no server was running" in events["schedule.missed"]["reason"]
    assert events["schedule.skipped"]["name"] == "Hourly kitchen"
    assert "already has 1 open runs" in events["schedule.skipped"]["reason"]
    assert events["schedule.skipped"]["url"] == "http://127.0.0.1:8000/schedules"


async def test_a_subscription_failing_for_three_days_is_disabled_and_says_so(
    live: LiveServer, make_identity: TokenFactory, receiver: WebhookReceiver
) -> None:
    me = await make_identity()
    receiver.answers.extend([(503, b"down")] * 3)
    async with live.client(me.token) as api:
        hook = await subscribe(api, receiver, ["run.failed"])
        async with live.database.pool.connection() as conn:
            await conn.execute(
                "UPDATE notification_subscriptions SET failing_since = now() - interval '3 days 1 minute' "
                "WHERE id = %s",
                (hook["id"],),
            )
        await api.post(f"/notifications/webhooks/{hook['id']}/test")
        log = await delivery_log(api, 1)
        shown = (await api.get(f"/notifications/webhooks/{hook['id']}")).json()
    assert shown["enabled"] is False
    assert shown["disabled_reason"].startswith("Disabled automatically: every try failed from ")
    assert log[0]["outcome"] in ("retrying", "failed") and log[0]["status_code"] == 503
    async with live.database.pool.connection() as conn:
        pending = await (
            await conn.execute(
                "SELECT count(*) AS n FROM notification_deliveries WHERE subscription_id = %s AND status = 'pending'",
                (hook["id"],),
            )
        ).fetchone()
    assert pending is not None and pending["n"] == 0  # nothing more is tried while disabled


async def test_the_delivery_log_pages_through_every_try_once(
    live: LiveServer, make_identity: TokenFactory, receiver: WebhookReceiver
) -> None:
    me = await make_identity()
    async with live.client(me.token) as api:
        hook = await subscribe(api, receiver, ["run.failed"])
        sent = [(await api.post(f"/notifications/webhooks/{hook['id']}/test")).json()["event_id"] for _ in range(5)]
        await delivery_log(api, 5)
        seen: list[dict[str, Any]] = []
        cursor = None
        for _ in range(10):
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await api.get("/notifications/deliveries", params=params)).json()
            seen += page["deliveries"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert sorted(d["event_id"] for d in seen) == sorted(sent)
    assert [d["attempted_at"] for d in seen] == sorted((d["attempted_at"] for d in seen), reverse=True)


async def test_best_new_sellers_are_the_runs_own_first_found_sellers_by_score(
    live: LiveServer, make_identity: TokenFactory, receiver: WebhookReceiver
) -> None:
    me = await make_identity()
    async with live.client(me.token) as api:
        await subscribe(api, receiver, ["run.completed"])
        ids = leaf_ids((await api.get("/amazon/categories")).json())
        first, feed = await start_run(live, api, ids[:3], name="First")
        await feed.until(terminal)
        await receiver.until(lambda got: len(got) == 1)
        expected_first = await best_new_sellers_of(live, first["id"])  # the second run changes scores
        # The second run finds many of the first one's sellers again: they are not new to it.
        second, feed = await start_run(live, api, ids[1:5], name="Second")
        await feed.until(terminal)
        got = await receiver.until(lambda got: len(got) == 2)
    by_run = {r.payload["data"]["id"]: r.payload["data"] for r in got}
    best_first, best_second = by_run[first["id"]]["best_new_sellers"], by_run[second["id"]]["best_new_sellers"]
    assert best_first == expected_first and len(best_first) == 5
    assert best_second == await best_new_sellers_of(live, second["id"]) and len(best_second) == 5
    assert not {s["id"] for s in best_first} & {s["id"] for s in best_second}
    for best in (best_first, best_second):
        scores = [s["score"] for s in best]
        assert scores == sorted(scores, reverse=True) and all(isinstance(n, int) for n in scores)


# Rows no API call can make (written before a check existed, or by hand), each of which used to raise in
# the worker: a host that does not decode (IDNA), a secret too short to open, a scheme httpx cannot send.
POISON = [
    ("http://xn--zz.example/hook", None),
    ("https://hooks.example.com/hook", b"\x01"),
    ("gopher://hooks.example.com/hook", None),
]


async def test_a_poisoned_delivery_is_a_failed_try_and_never_stops_the_others(
    live: LiveServer, make_identity: TokenFactory, receiver: WebhookReceiver
) -> None:
    bad, good = await make_identity(), await make_identity()
    # More broken deliveries than the worker has slots, all due before the good one.
    poisoned = POISON * live.runtime.settings.notification_concurrency
    async with live.database.pool.connection() as conn, conn.transaction():
        event = await (
            await conn.execute(
                "INSERT INTO notification_events (org_id, type, data) VALUES (%s, 'run.failed', '{}') RETURNING id",
                (bad.org_id,),
            )
        ).fetchone()
        assert event is not None
        for url, sealed in poisoned:
            hook_id = uuid.uuid4()
            good_seal, key_id = await sealing.seal(conn, live.runtime.settings, "whsec_x", subscription_id=hook_id)
            await conn.execute(
                "INSERT INTO notification_subscriptions (id, org_id, kind, url, events, secret_sealed, secret_key_id) "
                "VALUES (%s, %s, 'webhook', %s, '{run.failed}', %s, %s)",
                (hook_id, bad.org_id, url, sealed or good_seal, key_id),
            )
            await conn.execute(
                "INSERT INTO notification_deliveries (event_id, subscription_id, org_id, next_attempt_at) "
                "VALUES (%s, %s, %s, now() - interval '1 minute')",
                (event["id"], hook_id, bad.org_id),
            )
    async with live.client(good.token) as api:
        hook = await subscribe(api, receiver, ["run.failed"])
        ping = (await api.post(f"/notifications/webhooks/{hook['id']}/test")).json()
        [got] = await receiver.until(lambda got: len(got) == 1, timeout=20)
    async with live.client(bad.token) as api:
        tried = await delivery_log(api, len(poisoned))
    assert got.event_id == ping["event_id"]
    assert {t["outcome"] for t in tried} == {"retrying"} and {t["attempt"] for t in tried} == {1}
    assert all(t["next_attempt_at"] is not None and t["error"] for t in tried)
    errors = {t["target"]: t["error"] for t in tried}
    assert errors["http://xn--zz.example/hook"].startswith("Not a valid URL")
    assert errors["https://hooks.example.com/hook"].startswith("ValueError: ")  # the secret's nonce is too short
    assert errors["gopher://hooks.example.com/hook"].startswith("Webhook URLs must start with https://")
    async with live.database.pool.connection() as conn:
        await conn.execute("DELETE FROM notification_subscriptions WHERE org_id = %s", (bad.org_id,))
