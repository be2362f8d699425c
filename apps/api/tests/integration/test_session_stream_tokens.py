"""A stream token asked for through a browser session ends with that session; fires name no host or process.

The probe signed in with a session cookie, asked for a one-run stream token, signed out, and the
token still opened a new stream, while a stream opened with it ran on for about a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg

from app.http.state import server_state
from app.security import CSRF_HEADER
from tests.integration.test_stream_credentials import new_run, read_until_closed
from tests.support import LiveServer, TokenFactory

KEEPALIVE = 0.2
SETTINGS: dict[str, Any] = {"activity_keepalive_seconds": KEEPALIVE, "scheduler_enabled": False}


@contextlib.asynccontextmanager
async def browser_session(live: LiveServer, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding a session cookie (and its CSRF token), as the web page does after signing in."""
    async with live.client() as browser:
        opened = await browser.post("/auth/session", headers={"Authorization": f"Bearer {token}"})
        assert opened.status_code == 200, opened.text
        browser.headers[CSRF_HEADER] = opened.json()["csrf_token"]
        yield browser


async def test_signing_out_ends_the_stream_tokens_of_the_session_and_their_open_streams(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    me = await make_identity()
    run_id = await new_run(live, me)
    async with browser_session(live, me.token) as browser, live.client() as anonymous:
        issued = (await browser.post(f"/collection/runs/{run_id}/activity/token")).json()
        unused = (await browser.post(f"/collection/runs/{run_id}/activity/token")).json()
        opened = asyncio.Event()
        reading = asyncio.create_task(read_until_closed(anonymous, issued["url"], opened))
        await asyncio.wait_for(opened.wait(), 10)
        assert (await browser.delete("/auth/session")).status_code == 204
        # Within one keepalive interval (and a little): the batched credential check ends it.
        lines = await asyncio.wait_for(reading, KEEPALIVE * 10)
        reopened = await anonymous.get(issued["url"])
        never_used = await anonymous.get(unused["url"])
    assert ": credentials ended" in lines
    assert reopened.status_code == 401 and never_used.status_code == 401


async def test_an_expired_session_refuses_its_stream_tokens(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    me = await make_identity()
    run_id = await new_run(live, me)
    async with browser_session(live, me.token) as browser, live.client() as anonymous:
        issued = (await browser.post(f"/collection/runs/{run_id}/activity/token")).json()
        opened = asyncio.Event()
        reading = asyncio.create_task(read_until_closed(anonymous, issued["url"], opened))
        await asyncio.wait_for(opened.wait(), 10)
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE auth_sessions SET expires_at = now() WHERE api_token_id = "
                "(SELECT id FROM api_tokens WHERE membership_id = (SELECT id FROM memberships WHERE user_id = %s))",
                (me.user_id,),
            )
        lines = await asyncio.wait_for(reading, KEEPALIVE * 10)
        refused = await anonymous.get(issued["url"])
    assert ": credentials ended" in lines
    assert refused.status_code == 401


async def test_a_token_asked_for_with_a_bearer_token_outlives_other_sessions(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    me = await make_identity()
    run_id = await new_run(live, me)
    async with live.client(me.token) as api, browser_session(live, me.token) as browser:
        issued = (await api.post(f"/collection/runs/{run_id}/activity/token")).json()
        assert (await browser.delete("/auth/session")).status_code == 204
    async with live.client() as anonymous, anonymous.stream("GET", issued["url"]) as response:
        assert response.status_code == 200
        assert (await anext(response.aiter_lines())).startswith(":")


async def test_schedule_fires_name_no_host_or_process(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    async with live.client(me.token) as client:
        created = (
            await client.post(
                "/collection/schedules",
                json={"name": "Claims", "category_ids": ["home-bath"], "cron_expression": "* * * * *"},
            )
        ).json()
        due = datetime.fromisoformat(created["next_run_at"])
        await server_state(live.app).scheduler.tick(now=due + timedelta(seconds=1))
        [fire] = (await client.get(f"/collection/schedules/{created['id']}/fires")).json()["fires"]
        if fire["run_id"]:
            await client.post(f"/collection/runs/{fire['run_id']}/cancel")
    claimed_by = fire["claimed_by"]
    assert claimed_by.startswith("server-") and len(claimed_by) == len("server-") + 8
    assert socket.gethostname() not in claimed_by and str(os.getpid()) not in claimed_by
