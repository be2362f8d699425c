"""Cursors a client made up: every paginated endpoint answers 422 with the error body, never a 500.

A probe found that a cursor of a thousand nested `[` (base64) crashed the decoder with a
RecursionError: a text/plain 500, a closed connection and a traceback per request. Every cursor
now goes through one decoder with a size limit and a shape check before any JSON is parsed.
"""

from __future__ import annotations

import base64
import json
import uuid

import httpx

from app.services.cursors import MAX_CURSOR_CHARS
from tests.support import LiveServer, TokenFactory


def b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


NESTED = b64("[" * 1000)
# Well-formed in every way but its size: a key far longer than any the API issues.
OVERSIZED = b64(json.dumps(["x" * MAX_CURSOR_CHARS, str(uuid.uuid4())]))
BAD_CURSORS = {
    "nested": NESTED,
    "nested-deeper": b64("[" * 50_000 + "]" * 50_000)[: MAX_CURSOR_CHARS * 4],
    "oversized": OVERSIZED,
    "object": b64('{"a": 1}'),
    "nested-list": b64('[["2024-01-01T00:00:00+00:00"], "00000000-0000-0000-0000-000000000000"]'),
    "not-base64": "%%%%",
    "not-utf8": base64.urlsafe_b64encode(b"\xff\xfe[").decode(),
}


def local_port(response: httpx.Response) -> int:
    port: int = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    return port


async def endpoints(client: httpx.AsyncClient) -> list[str]:
    """Every cursor-paginated endpoint, for an org with one history entry."""
    added = await client.post("/sellers", json={"name": "Cursor Shop"})
    assert added.status_code == 201, added.text
    entry = (await client.get("/history", params={"limit": 1})).json()["entries"][0]["id"]
    return [
        "/sellers",
        "/sellers/audit-log",
        f"/history/{entry}/sellers",
        f"/history/{entry}/changes",
        "/notifications/deliveries",
    ]


async def test_made_up_cursors_answer_422_on_every_endpoint_and_keep_the_connection(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    me = await make_identity(permissions=("sellers.write", "admin.automation"))
    answers: dict[tuple[str, str], httpx.Response] = {}
    async with live.client(me.token) as client:
        paths = await endpoints(client)
        for path in paths:
            for name, cursor in BAD_CURSORS.items():
                answers[(path, name)] = await client.get(path, params={"cursor": cursor})
        still = await client.get("/auth/me")
        ports = {local_port(r) for r in [*answers.values(), still]}
    failures = {
        key: (r.status_code, r.headers.get("content-type"), r.text[:80])
        for key, r in answers.items()
        if (r.status_code, r.headers.get("content-type")) != (422, "application/json") or "cursor" not in r.text
    }
    assert failures == {}
    assert still.status_code == 200
    # Every answer came over one kept-alive connection: none of them closed it.
    assert len(ports) == 1


async def test_every_cursor_the_api_issues_is_accepted_back(live: LiveServer, make_identity: TokenFactory) -> None:
    """Names up to the API's 200 characters, of the widest characters, make cursors within the limit."""
    me = await make_identity(permissions=("sellers.write",))
    widest = ["\U0001f600" * 200, "\U0001f600" * 199 + "a", "ﷺ" * 20, 'quote " back \\ slash [ {']
    async with live.client(me.token) as client:
        added = await client.post("/sellers/bulk", json={"names": widest})
        assert added.status_code == 200 and len(added.json()["added"]) == len(widest), added.text
        seen: list[str] = []
        params = {"sort": "name", "limit": 1}
        while True:
            page = await client.get("/sellers", params=params)
            assert page.status_code == 200, page.text
            seen += [s["display_name"] for s in page.json()["sellers"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
            assert len(cursor) <= MAX_CURSOR_CHARS
            params["cursor"] = cursor
    assert sorted(seen) == sorted(widest)
