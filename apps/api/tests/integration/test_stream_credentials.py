"""Streams end with their credentials, are capped per token, and open cross-origin only where configured."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import httpx
import psycopg
from httpx_sse import aconnect_sse

from app.logging_config import RedactSecretsFilter
from app.repositories import runs as runs_repo
from app.services import accounts
from tests.support import Identity, LiveServer, TokenFactory

ORIGIN = "https://dashboard.example"
PER_TOKEN = 2


SETTINGS: dict[str, Any] = {
    "activity_keepalive_seconds": 0.2,
    "max_streams_per_token": PER_TOKEN,
    "stream_cors_origins": [ORIGIN],
}


async def new_run(live: LiveServer, identity: Identity) -> uuid.UUID:
    async with live.database.pool.connection() as conn:
        run = await runs_repo.insert_run(
            conn, org_id=identity.org_id, name="credentials", category_ids=["electronics-computers"], created_by=None
        )
    run_id: uuid.UUID = run.id
    return run_id


async def read_until_closed(client: httpx.AsyncClient, path: str, opened: asyncio.Event) -> list[str]:
    """Every SSE line until the server ends the stream."""
    lines: list[str] = []
    async with client.stream("GET", path) as response:
        assert response.status_code == 200, await response.aread()
        opened.set()
        async for line in response.aiter_lines():
            lines.append(line)
    return lines


async def test_revoking_the_token_ends_its_open_stream(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    run_id = await new_run(live, me)
    opened = asyncio.Event()
    async with live.client(me.token) as client:
        reading = asyncio.create_task(read_until_closed(client, f"/collection/runs/{run_id}/activity", opened))
        await asyncio.wait_for(opened.wait(), 10)
        async with live.database.pool.connection() as conn:
            assert await accounts.revoke_token(conn, token_or_prefix=me.token) == 1
        lines = await asyncio.wait_for(reading, 10)
        again = await client.get(f"/collection/runs/{run_id}/activity")
    assert ": credentials ended" in lines
    assert again.status_code == 401


async def test_one_check_ends_only_the_streams_whose_credentials_ended(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    revoked, kept = await make_identity(), await make_identity()
    runs = {revoked.token: await new_run(live, revoked), kept.token: await new_run(live, kept)}
    async with live.client(revoked.token) as gone, live.client(kept.token) as staying:
        opened = [asyncio.Event() for _ in range(3)]
        ending = [
            asyncio.create_task(read_until_closed(gone, f"/collection/runs/{runs[revoked.token]}/activity", e))
            for e in opened[:2]
        ]
        path = f"/collection/runs/{runs[kept.token]}/activity"
        async with staying.stream("GET", path) as response:
            opened[2].set()
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in opened)), 10)
            async with live.database.pool.connection() as conn:
                assert await accounts.revoke_token(conn, token_or_prefix=revoked.token) == 1
            ended = await asyncio.wait_for(asyncio.gather(*ending), 10)
            # The kept token's stream outlives the check that ended the others: it gets keepalives after it.
            pings = 0
            async for line in response.aiter_lines():
                pings += line.startswith(": ping")
                if pings == 3:
                    break
    assert all(": credentials ended" in lines for lines in ended)
    assert pings == 3


async def test_an_expired_stream_token_ends_its_stream(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    me = await make_identity()
    run_id = await new_run(live, me)
    async with live.client(me.token) as client:
        issued = (await client.post(f"/collection/runs/{run_id}/activity/token")).json()
    opened = asyncio.Event()
    async with live.client() as anonymous:
        reading = asyncio.create_task(read_until_closed(anonymous, issued["url"], opened))
        await asyncio.wait_for(opened.wait(), 10)
        with psycopg.connect(db_url) as conn:
            conn.execute("UPDATE stream_tokens SET expires_at = now() WHERE run_id = %s", (run_id,))
        lines = await asyncio.wait_for(reading, 10)
    assert ": credentials ended" in lines


async def test_streams_per_token_are_capped(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    run_id = await new_run(live, me)
    path = f"/collection/runs/{run_id}/activity"
    async with live.client(me.token) as client:
        openers = [asyncio.Event() for _ in range(PER_TOKEN)]
        readers = [asyncio.create_task(read_until_closed(client, path, e)) for e in openers]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in openers)), 10)
        refused = await client.get(path)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    assert refused.status_code == 429 and "retry-after" in refused.headers
    assert f"{PER_TOKEN} of {PER_TOKEN}" in refused.json()["detail"]


async def test_the_stream_token_counts_only_under_its_exact_name(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    run_id = await new_run(live, me)
    async with live.client(me.token) as client:
        token = (await client.post(f"/collection/runs/{run_id}/activity/token")).json()["token"]
    path = f"/collection/runs/{run_id}/activity"
    async with live.client() as anonymous:
        disguised = await anonymous.get(f"{path}?stream_tok%65n={token}")
        async with aconnect_sse(anonymous, "GET", f"{path}?stream_token={token}") as source:
            exact = source.response.status_code
    assert disguised.status_code == 401
    assert exact == 200


def test_tokens_are_redacted_in_every_spelling() -> None:
    line = "GET /x?a=1&stream_tok%65n=s3cret1&TOKEN=s3cret2&access%5Ftoken=s3cret3&stream_token=s3cret4 HTTP/1.1"
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "%s", (line,), None)
    RedactSecretsFilter().filter(record)
    assert isinstance(record.args, tuple)
    redacted = str(record.args[0])
    assert "s3cret" not in redacted and "a=1" in redacted


async def test_cors_only_for_configured_origins_on_the_stream(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    run_id = await new_run(live, me)
    async with live.client(me.token) as client:
        token = (await client.post(f"/collection/runs/{run_id}/activity/token")).json()["token"]
        other_endpoint = await client.get("/sellers", headers={"Origin": ORIGIN})
    path = f"/collection/runs/{run_id}/activity?stream_token={token}"
    async with live.client() as browser:
        async with browser.stream("GET", path, headers={"Origin": ORIGIN}) as allowed:
            allowed_origin = allowed.headers.get("access-control-allow-origin")
        async with browser.stream("GET", path, headers={"Origin": "https://evil.example"}) as denied:
            denied_origin = denied.headers.get("access-control-allow-origin")
        preflight = await browser.options(
            path,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "last-event-id",
            },
        )
    assert allowed_origin == ORIGIN
    assert denied_origin is None
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-origin" not in other_endpoint.headers
