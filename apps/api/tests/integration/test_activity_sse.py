"""The live activity feed over real HTTP on loopback, read with an SSE client library."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from httpx_sse import ServerSentEvent, aconnect_sse

from app.repositories import runs as runs_repo
from app.services.parallel_runner import create_activity_event
from tests.support import Identity, LiveServer, TokenFactory

# This module's settings (conftest's `settings` fixture applies them).
SETTINGS: dict[str, Any] = {
    "activity_keepalive_seconds": 0.3,
    "activity_send_timeout_seconds": 2,
    "activity_finished_grace_seconds": 30,
    "max_streams_per_token": 20,
}


async def new_run(live: LiveServer, identity: Identity) -> uuid.UUID:
    async with live.database.pool.connection() as conn:
        run = await runs_repo.insert_run(
            conn, org_id=identity.org_id, name="feed test", category_ids=["electronics-computers"], created_by=None
        )
    return run.id


def finish_run(db_url: str, run_id: uuid.UUID) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE collection_runs SET status = 'completed', completed_at = now() WHERE id = %s", (run_id,))


def push(live: LiveServer, run_id: uuid.UUID, n: int, *, terminal: bool = False) -> int:
    """Event `n` of the run; the terminal one is the run's "complete"."""
    if terminal:
        event = create_activity_event(0, "run", "complete", items_count=n)
    else:
        event = create_activity_event(1, "ebay", "fetching", items_count=n, product_name=f"product {n}")
    return live.stream.push(run_id, event)


async def collect(source: Any, limit: int | None = None) -> list[ServerSentEvent]:
    events = []
    async for sse in source.aiter_sse():
        if not sse.data:
            continue  # the retry-only first frame: browsers do not dispatch data-less events either
        events.append(sse)
        if limit is not None and len(events) >= limit:
            break
    return events


def seqs(events: list[ServerSentEvent]) -> list[int]:
    return [int(e.id) for e in events if e.data and json.loads(e.data)["action"] != "gap"]


async def test_auth_errors(live: LiveServer, make_identity: TokenFactory) -> None:
    owner = await make_identity()
    stranger = await make_identity()
    reader = await make_identity(permissions=("sellers.read",))
    run_id = await new_run(live, owner)
    url = f"/collection/runs/{run_id}/activity"
    async with live.client() as anonymous:
        assert (await anonymous.get(url)).status_code == 401
    async with live.client("sc_bogus") as bogus:
        assert (await bogus.get(url)).status_code == 401
    async with live.client(reader.token) as client:
        forbidden = await client.get(url)
    assert forbidden.status_code == 403
    assert "admin.automation" in forbidden.json()["detail"]
    async with live.client(stranger.token) as client:
        other_org = await client.get(url)
        unknown = await client.get(f"/collection/runs/{uuid.uuid4()}/activity")
        not_a_uuid = await client.get("/collection/runs/nope/activity")
    assert other_org.status_code == unknown.status_code == 404
    assert other_org.json() == unknown.json() == {"detail": "Run not found"}
    assert not_a_uuid.status_code == 422


async def test_headers_retry_and_keepalive(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    run_id = await new_run(live, identity)
    async with (
        live.client(identity.token) as client,
        client.stream("GET", f"/collection/runs/{run_id}/activity") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-accel-buffering"] == "no"
        assert "connection" not in response.headers  # hop-by-hop; HTTP/2 proxies reject it
        lines = []
        async for line in response.aiter_lines():
            lines.append(line)
            if line.startswith(": ping"):
                break
    assert "retry: 3000" in lines
    assert any(line.startswith(": ping") for line in lines)


async def test_two_subscribers_each_receive_every_event_then_the_stream_ends(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    identity = await make_identity()
    run_id = await new_run(live, identity)
    url = f"/collection/runs/{run_id}/activity"
    async with (
        live.client(identity.token) as a,
        live.client(identity.token) as b,
        aconnect_sse(a, "GET", url) as source_a,
        aconnect_sse(b, "GET", url) as source_b,
    ):
        await asyncio.wait_for(live.stream.wait_for_subscribers(run_id, 2), 10)
        for n in range(1, 51):
            push(live, run_id, n)
        finish_run(db_url, run_id)
        push(live, run_id, 51, terminal=True)
        got_a, got_b = await asyncio.gather(collect(source_a), collect(source_b))
    assert seqs(got_a) == seqs(got_b) == list(range(1, 52))
    assert [json.loads(e.data)["items_count"] for e in got_a] == list(range(1, 52))
    assert json.loads(got_a[-1].data)["action"] == "complete"

    # The run is over and this client has seen everything: a reconnect is told to stop.
    async with live.client(identity.token) as client:
        again = await client.get(url, headers={"Last-Event-ID": "51"})
        fresh = await client.get(url)
    assert again.status_code == 204
    assert fresh.status_code == 200  # the finished stream is still replayable during its grace period
    # A finished run whose stream is gone (its grace period over, or a restart) has nothing to replay.
    quiet = await new_run(live, identity)
    finish_run(db_url, quiet)
    async with live.client(identity.token) as client:
        gone = await client.get(f"/collection/runs/{quiet}/activity")
    assert gone.status_code == 204 and not live.stream.has_stream(quiet)


async def test_reconnect_gets_exactly_the_missed_events(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    run_id = await new_run(live, identity)
    url = f"/collection/runs/{run_id}/activity"
    for n in range(1, 11):
        push(live, run_id, n)
    async with live.client(identity.token) as client:
        async with aconnect_sse(client, "GET", url, headers={"Last-Event-ID": "4"}) as source:
            by_header = await collect(source, limit=6)
        async with aconnect_sse(client, "GET", f"{url}?last_event_id=7") as source:
            by_query = await collect(source, limit=3)
        async with aconnect_sse(client, "GET", f"{url}?last_event_id=1", headers={"Last-Event-ID": "8"}) as source:
            header_wins = await collect(source, limit=2)
        bad = await client.get(url, headers={"Last-Event-ID": "abc"})
    assert seqs(by_header) == [5, 6, 7, 8, 9, 10]
    assert seqs(by_query) == [8, 9, 10]
    assert seqs(header_wins) == [9, 10]
    assert bad.status_code == 422


async def test_reconnect_beyond_the_buffer_gets_a_gap_event(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    run_id = await new_run(live, identity)
    for n in range(1, 151):
        push(live, run_id, n)
    async with (
        live.client(identity.token) as client,
        aconnect_sse(client, "GET", f"/collection/runs/{run_id}/activity?last_event_id=10") as source,
    ):
        events = await collect(source, limit=101)
    gap = json.loads(events[0].data)
    assert gap["action"] == "gap" and gap["missed"] == 40
    assert events[0].id == ""  # a gap notice must not move the client's Last-Event-ID
    assert seqs(events[1:]) == list(range(51, 151))


async def test_a_stalled_subscriber_does_not_delay_another(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    identity = await make_identity()
    run_id = await new_run(live, identity)
    path = f"/collection/runs/{run_id}/activity"
    address = urlsplit(live.base_url)
    _reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {identity.token}\r\n\r\n".encode()
    )  # ... and never read a byte
    await writer.drain()
    await asyncio.wait_for(live.stream.wait_for_subscribers(run_id, 1), 10)
    received: list[ServerSentEvent] = []
    progress = asyncio.Condition()

    async def read_all(source: Any) -> None:
        async for sse in source.aiter_sse():
            if sse.data:
                received.append(sse)
                async with progress:
                    progress.notify_all()

    try:
        async with live.client(identity.token) as client, aconnect_sse(client, "GET", path) as source:
            await asyncio.wait_for(live.stream.wait_for_subscribers(run_id, 2), 10)
            reading = asyncio.create_task(read_all(source))
            padding = "x" * 2000
            for n in range(1, 3001):
                event = create_activity_event(2, "ebay", "found", items_count=n, error_message=padding)
                live.stream.push(run_id, event)
                if n % 100 == 0:
                    # Publish as fast as the healthy reader reads; the stalled one reads nothing at all.
                    async with progress:
                        await asyncio.wait_for(progress.wait_for(lambda n=n: len(received) >= n), 30)
            # The frozen client is cut loose by the send timeout; the healthy one stays.
            await asyncio.wait_for(live.stream.wait_for_subscribers(run_id, 1), 30)
            finish_run(db_url, run_id)
            push(live, run_id, 3001, terminal=True)
            await asyncio.wait_for(reading, 30)
    finally:
        writer.close()
    assert seqs(received) == list(range(1, 3002))


async def test_a_client_that_disconnects_is_unsubscribed_at_once(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    run_id = await new_run(live, identity)
    async with (
        live.client(identity.token) as client,
        aconnect_sse(client, "GET", f"/collection/runs/{run_id}/activity"),
    ):
        await asyncio.wait_for(live.stream.wait_for_subscribers(run_id, 1), 10)
    await asyncio.wait_for(live.stream.wait_for_subscribers(run_id, 0), 10)
    assert not live.stream.has_stream(run_id)


async def test_nothing_left_registered_after_2000_subscribe_disconnect_cycles(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    identity = await make_identity()
    run_ids = [await new_run(live, identity) for _ in range(4)]
    before = live.stream.stats()

    async def cycles(client: httpx.AsyncClient, run_id: uuid.UUID, count: int) -> None:
        for _ in range(count):
            async with client.stream("GET", f"/collection/runs/{run_id}/activity") as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    if line.startswith("retry:"):
                        break

    async with live.client(identity.token, limits=httpx.Limits(max_connections=20)) as client:
        await asyncio.gather(*(cycles(client, run_ids[i % 4], 100) for i in range(20)))
    for run_id in run_ids:
        await asyncio.wait_for(live.stream.wait_for_subscribers(run_id, 0), 10)
    after = live.stream.stats()
    # Earlier tests' finished streams may expire meanwhile; none of ours may stay, nor any subscriber.
    assert after["subscribers"] == before["subscribers"] and after["streams"] <= before["streams"]
    assert not any(live.stream.has_stream(r) for r in run_ids)


async def test_stream_token_opens_only_its_run_for_a_short_time(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    identity = await make_identity()
    stranger = await make_identity()
    run_id = await new_run(live, identity)
    other_run = await new_run(live, identity)
    async with live.client(identity.token) as client:
        issued = await client.post(f"/collection/runs/{run_id}/activity/token")
    assert issued.status_code == 200
    body = issued.json()
    token = body["token"]
    assert body["url"] == f"/collection/runs/{run_id}/activity?stream_token={token}"
    push(live, run_id, 1)

    async with live.client() as browser:  # no Authorization header, no cookie
        async with aconnect_sse(browser, "GET", body["url"]) as source:
            assert seqs(await collect(source, limit=1)) == [1]
        wrong_run = await browser.get(f"/collection/runs/{other_run}/activity?stream_token={token}")
        assert wrong_run.status_code == 401
        with psycopg.connect(db_url) as conn:
            conn.execute("UPDATE stream_tokens SET expires_at = now() - interval '1 second'")
        expired = await browser.get(body["url"])
        assert expired.status_code == 401
        assert expired.json()["detail"].startswith("Invalid or expired stream token")

    async with live.client(stranger.token) as client:
        assert (await client.post(f"/collection/runs/{run_id}/activity/token")).status_code == 404


async def test_session_cookie_opens_the_stream(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    run_id = await new_run(live, identity)
    push(live, run_id, 1)
    async with live.client() as browser:
        await browser.post("/auth/session", headers={"Authorization": f"Bearer {identity.token}"})
        async with aconnect_sse(browser, "GET", f"/collection/runs/{run_id}/activity") as source:
            assert seqs(await collect(source, limit=1)) == [1]
