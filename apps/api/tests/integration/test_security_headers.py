"""Every answer carries the security headers: pages, /docs, API answers, error answers, the SSE stream and exports.

The page must not be framed (X-Frame-Options and CSP frame-ancestors), runs no inline script (the
CSP's script-src), is never sniffed into another type, sends no referrer off its origin, and API
answers carrying an org's data are never stored by a cache. The streamed answers keep streaming.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from app.config import Settings
from app.main import create_app
from app.repositories import runs as runs_repo
from tests.support import LiveServer, TokenFactory

BODY_LIMIT = 4096
SETTINGS: dict[str, Any] = {"max_request_body_bytes": BODY_LIMIT}

ALWAYS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def policy(response: httpx.Response) -> dict[str, str]:
    """The Content-Security-Policy as {directive: sources}."""
    header = response.headers.get("content-security-policy", "")
    directives = (part.strip().partition(" ") for part in header.split(";") if part.strip())
    return {name: sources for name, _, sources in directives}


def missing_headers(response: httpx.Response, *, no_store: bool) -> list[str]:
    missing = [f"{name}: {value}" for name, value in ALWAYS.items() if response.headers.get(name) != value]
    csp = policy(response)
    if csp.get("frame-ancestors") != "'none'":
        missing.append("CSP frame-ancestors 'none'")
    if csp.get("script-src") != "'self'" or "'unsafe-inline'" in csp.get("style-src", "'unsafe-inline'"):
        missing.append("CSP script-src 'self' and a style-src without 'unsafe-inline'")
    if no_store and response.headers.get("cache-control") != "no-store":
        missing.append(f"Cache-Control: no-store (got {response.headers.get('cache-control')})")
    return missing


async def test_pages_docs_and_api_answers_carry_the_headers(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity(permissions=("admin.automation", "sellers.write"))
    async with live.client(me.token) as client:
        run = (await client.post("/collection/runs", json={"category_ids": ["baby-feeding"]})).json()
        answers = {
            "/": await client.get("/"),
            "/runs/{id}": await client.get(f"/runs/{run['id']}"),
            "/sellers page": await client.get("/sellers", headers={"Sec-Fetch-Dest": "document"}),
            "/docs": await client.get("/docs"),
            "/auth/me": await client.get("/auth/me"),
            "/collection/runs/{id}": await client.get(f"/collection/runs/{run['id']}"),
            "/sellers": await client.get("/sellers"),
            "a 404": await client.get(f"/collection/runs/{uuid.uuid4()}"),
            "a 422": await client.get("/sellers", params={"limit": "many"}),
        }
    async with live.client() as anonymous:
        answers["a 401"] = await anonymous.get("/sellers")
        answers["a 413"] = await anonymous.post("/sellers", content=b"x" * (2 * BODY_LIMIT))
    assert {name: r.status_code for name, r in answers.items()} == {
        "/": 200, "/runs/{id}": 200, "/sellers page": 200, "/docs": 200, "/auth/me": 200,
        "/collection/runs/{id}": 200, "/sellers": 200, "a 404": 404, "a 422": 422, "a 401": 401, "a 413": 413,
    }  # fmt: skip
    assert {name: missing_headers(r, no_store=True) for name, r in answers.items()} == {name: [] for name in answers}
    assert "text/html" in answers["/"].headers["content-type"]


async def test_static_assets_carry_the_headers_and_stay_cacheable(live: LiveServer) -> None:
    async with live.client() as anonymous:
        shell = (await anonymous.get("/")).text
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', shell)
        answers = [await anonymous.get(path) for path in assets]
    assert len(assets) >= 3  # the stylesheet, the theme script and the app's entry module
    assert all(r.status_code == 200 and missing_headers(r, no_store=False) == [] for r in answers)
    assert all("no-store" not in r.headers.get("cache-control", "") for r in answers)


async def test_the_sse_stream_and_an_export_carry_the_headers_and_still_stream(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    me = await make_identity(permissions=("admin.automation", "sellers.write"))
    async with live.database.pool.connection() as conn:
        run = await runs_repo.insert_run(
            conn, org_id=me.org_id, name="headers", category_ids=["baby-feeding"], created_by=None
        )
    async with live.client(me.token) as client:
        await client.post("/sellers/bulk", json={"names": ["Header Shop", "Other Shop"]})
        async with client.stream("GET", f"/collection/runs/{run.id}/activity") as stream:
            # The opening frame arrives while the stream stays open: nothing waits for the body's end.
            first = await anext(stream.aiter_lines())
            stream_missing = missing_headers(stream, no_store=True)
            stream_type = stream.headers["content-type"]
        export = await client.get("/sellers/export", params={"format": "csv"})
    assert first.startswith(":")
    assert stream_type.startswith("text/event-stream")
    assert stream_missing == []
    assert export.status_code == 200 and "Header Shop" in export.text
    assert export.headers["content-disposition"].startswith("attachment")
    assert missing_headers(export, no_store=True) == []


async def test_an_unexpected_error_answer_carries_them_too() -> None:
    """The headers sit outside even the error middleware, so the answer to a crash has them as well."""
    app = create_app(Settings(_env_file=None))  # type: ignore[call-arg]

    async def crash() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/crash", crash)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/crash")
    assert answer.status_code == 500
    assert missing_headers(answer, no_store=True) == []
