"""Abuse and mistakes: malformed input answers 4xx (never 500), limits hold, slow export readers harm no one."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import uuid
from typing import Any

import httpx
import psycopg

from app.http.state import server_state
from tests.support import LiveServer, TokenFactory

BODY_LIMIT = 64 * 1024
BULK_CAP = 5
STALLED_ROWS = 30_000


# This module's settings (conftest's `settings` fixture applies them).
SETTINGS: dict[str, Any] = {
    "max_request_body_bytes": BODY_LIMIT,
    "max_bulk_items": BULK_CAP,
    "db_pool_max_size": 4,
    "max_concurrent_exports_per_org": 2,
    "export_send_timeout_seconds": 10.0,
}


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def assert_client_error(response: httpx.Response, status: int = 422) -> str:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"]
    detail: str = body["detail"]
    return detail


async def test_malformed_cursors_answer_422(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    row_id = str(uuid.uuid4())
    bad = [
        cursor_of(["2020-01-01T00:00:00", 5]),  # int where the id goes
        cursor_of(["2020-01-01T00:00:00", [1, 2]]),  # list where the id goes
        cursor_of([5, row_id]),
        cursor_of(["2020-01-01T00:00:00"]),
        cursor_of({"a": 1}),
        cursor_of(["\ud800", row_id]),
        "!!!not base64!!!",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ]
    async with live.client(me.token) as client:
        for cursor in bad:
            for sort in ("newest", "name"):
                assert_client_error(await client.get("/sellers", params={"cursor": cursor, "sort": sort}))
            assert_client_error(await client.get("/sellers/audit-log", params={"cursor": cursor}))
        name_cursor = cursor_of(["a\u0000b", row_id])
        assert_client_error(await client.get("/sellers", params={"cursor": name_cursor, "sort": "name"}))
        not_a_date = cursor_of(["not a date", row_id])
        assert_client_error(await client.get("/sellers", params={"cursor": not_a_date, "sort": "oldest"}))
        assert_client_error(await client.get("/sellers/audit-log", params={"cursor": not_a_date}))
        # A well-formed naive cursor is fine (taken as UTC).
        ok = await client.get("/sellers", params={"cursor": cursor_of(["2020-01-01T00:00:00", row_id])})
        assert ok.status_code == 200


async def test_lone_surrogates_in_any_json_string_answer_422(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    headers = {"content-type": "application/json"}
    bodies = [
        ("POST", "/sellers", '{"name": "\\ud800"}'),
        ("POST", "/sellers", '{"name": "ok\\udfff"}'),
        ("POST", "/sellers/bulk", '{"names": ["fine", "\\ud800x"]}'),
        ("POST", "/collection/runs", '{"name": "\\ud800", "category_ids": ["electronics-computers"]}'),
        ("POST", "/collection/runs", '{"category_ids": ["\\ud800"]}'),
    ]
    async with live.client(me.token) as client:
        seller = (await client.post("/sellers", json={"name": "to rename"})).json()
        bodies.append(("PATCH", f"/sellers/{seller['id']}", '{"name": "\\ud800"}'))
        for method, path, body in bodies:
            detail = assert_client_error(await client.request(method, path, content=body, headers=headers))
            assert "\\ud8" in detail or "\\udf" in detail or "surrogate" in detail
        assert (await client.get("/sellers")).json()["total_in_org"] == 1


async def test_audit_log_with_naive_and_aware_datetimes(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    async with live.client(me.token) as client:
        await client.post("/sellers", json={"name": "dated"})
        mixed = await client.get(
            "/sellers/audit-log", params={"date_from": "2020-01-01T00:00:00", "date_to": "2999-01-01T00:00:00+02:00"}
        )
        backwards = await client.get(
            "/sellers/audit-log", params={"date_from": "2999-01-01T00:00:00+00:00", "date_to": "2020-01-01T00:00:00"}
        )
        many_actions = await client.get("/sellers/audit-log", params={"action": ["x" * 5000, "y", "z", "w"]})
    assert mixed.status_code == 200 and len(mixed.json()["entries"]) == 1
    assert_client_error(backwards)
    assert len(assert_client_error(many_actions)) < 300


async def test_last_event_id_must_be_a_plain_number(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    async with live.client(me.token) as client:
        run = (await client.post("/collection/runs", json={"category_ids": ["electronics-computers"]})).json()
        path = f"/collection/runs/{run['id']}/activity"
        for value in ("²".encode(), b"\xb2", b"9" * 5000, b"-1", b"1e3", "١٢".encode()):
            detail = assert_client_error(await client.get(path, headers={"Last-Event-ID": value}))
            assert len(detail) < 300
        assert_client_error(await client.get(path, params={"last_event_id": "9" * 5000}))


async def test_errors_quote_only_a_short_prefix_of_a_bad_value(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    async with live.client(me.token) as client:
        long_name = await client.post("/sellers", json={"name": "n" * 50_000})
        long_category = await client.post("/collection/runs", json={"category_ids": ["c" * 90, "d" * 90]})
    assert len(assert_client_error(long_name)) < 300
    assert len(assert_client_error(long_category)) < 400


async def test_request_body_limit_413_declared_and_streamed(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    big = json.dumps({"names": ["x" * 100] * (2 * BODY_LIMIT // 100)}).encode()

    async def chunked() -> Any:
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    async with live.client(me.token) as client:
        declared = await client.post("/sellers/bulk", content=big, headers={"content-type": "application/json"})
        streamed = await client.post("/sellers/bulk", content=chunked(), headers={"content-type": "application/json"})
        assert "content-length" not in streamed.request.headers
        small = await client.post("/sellers/bulk", json={"names": ["fits"]})
    assert "limit" in assert_client_error(declared, 413)
    assert "limit" in assert_client_error(streamed, 413)
    assert small.status_code == 200


async def test_bulk_lists_are_capped_by_the_setting(live: LiveServer, make_identity: TokenFactory) -> None:
    me = await make_identity()
    ids = [str(uuid.uuid4()) for _ in range(BULK_CAP + 1)]
    async with live.client(me.token) as client:
        names = await client.post("/sellers/bulk", json={"names": [f"n{i}" for i in range(BULK_CAP + 1)]})
        flag = await client.post("/sellers/flag", json={"ids": ids, "flagged": True})
        delete = await client.post("/sellers/bulk-delete", json={"ids": ids})
        at_cap = await client.post("/sellers/bulk-delete", json={"ids": ids[:BULK_CAP]})
    for response in (names, flag, delete):
        assert f"at most {BULK_CAP}" in assert_client_error(response)
    assert at_cap.status_code == 200


def seed_sellers(db_url: str, org_id: uuid.UUID, count: int) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO sellers (org_id, display_name, normalized_name) "
            "SELECT %s, 'seller number ' || g || ' of the stalled export test', 'seller number ' || g "
            "FROM generate_series(1, %s) AS g",
            (org_id, count),
        )


def stalled_export(base_url: str, token: str) -> socket.socket:
    """A client that asks for the CSV export, reads the first KB and then reads nothing more."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window, so the server's sends block
    sock.connect((host, int(port)))
    sock.sendall(
        f"GET /sellers/export?format=csv HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    return sock


def read_to_eof(sock: socket.socket) -> bytes:
    sock.settimeout(30)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    return data


async def test_stalled_export_readers_hold_no_connection_and_are_dropped(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    orgs = [await make_identity() for _ in range(3)]
    for org in orgs:
        seed_sellers(db_url, org.org_id, STALLED_ROWS)
    slots = server_state(live.app).export_slots
    # Two stalled readers per org (the per-org cap), six in all, with a pool of four connections.
    stalled = [stalled_export(live.base_url, org.token) for org in orgs for _ in range(2)]
    first = await asyncio.gather(*(asyncio.to_thread(s.recv, 1024) for s in stalled))
    assert all(head.startswith(b"HTTP/1.1 200") for head in first)
    async with live.client(orgs[0].token) as client:
        third = await client.get("/sellers/export")
        health = await client.get("/health")
        listed = await client.get("/sellers", params={"limit": 5})
    assert third.status_code == 429 and "retry-after" in third.headers
    assert_client_error(third, 429)
    assert health.status_code == 200
    assert listed.status_code == 200 and listed.json()["total_in_org"] == STALLED_ROWS
    # Each stalled download is ended after the send timeout, which frees its slot...
    for org in orgs:
        await asyncio.wait_for(slots.until_idle(org.org_id), timeout=60)
    bodies = await asyncio.gather(*(asyncio.to_thread(read_to_eof, s) for s in stalled))
    async with live.client(orgs[0].token) as client:
        log = (await client.get("/sellers/audit-log", params={"action": "export"})).json()["entries"]
        complete = await client.get("/sellers/export")
        after = (await client.get("/sellers/audit-log", params={"action": "export"})).json()["entries"]
    # ...the body was cut short, and an export that never completed left no audit row.
    full_size = len(complete.content)
    assert all(len(body) < full_size for body in bodies)
    assert log == []
    assert complete.status_code == 200 and complete.content.count(b"\n") == STALLED_ROWS + 1
    assert len(after) == 1 and after[0]["affected_count"] == STALLED_ROWS
    assert after[0]["seller_name"] == f"Exported {STALLED_ROWS} sellers as csv"


async def test_wrong_methods_answer_405_with_every_allowed_method(
    live: LiveServer, make_identity: TokenFactory
) -> None:
    me = await make_identity()
    seller_path = f"/sellers/{uuid.uuid4()}"
    async with live.client(me.token) as client:
        bulk = await client.patch("/sellers/bulk", json={"names": ["x"]})
        listing = await client.delete("/sellers")
        one = await client.put(seller_path, json={"name": "x"})
    assert_client_error(bulk, 405)
    assert bulk.headers["allow"] == "POST"
    assert_client_error(listing, 405)
    assert listing.headers["allow"] == "GET, POST"
    assert_client_error(one, 405)
    assert one.headers["allow"] == "DELETE, GET, PATCH"


async def test_openapi_documents_the_one_error_body_and_the_bearer_scheme(live: LiveServer) -> None:
    async with live.client() as client:
        document = (await client.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "An API token: `sc_...`"
    }  # fmt: skip
    assert "HTTPValidationError" not in document["components"]["schemas"]
    bulk = document["paths"]["/sellers/bulk"]["post"]
    assert {"400", "401", "403", "413", "422", "429"} <= set(bulk["responses"])
    for status in ("401", "413", "422"):
        schema = bulk["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    assert "404" in document["paths"]["/sellers/{seller_id}"]["patch"]["responses"]
    assert "409" in document["paths"]["/collection/runs/{run_id}/start"]["post"]["responses"]
    assert "security" not in document["paths"]["/health"]["get"]
