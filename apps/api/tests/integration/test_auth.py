from __future__ import annotations

import psycopg

from app.services import accounts
from tests.support import LiveServer, TokenFactory


async def test_missing_token_is_401(live: LiveServer) -> None:
    async with live.client() as client:
        response = await client.get("/auth/me")
    assert response.status_code == 401
    assert "Not authenticated" in response.json()["detail"]


async def test_unknown_and_malformed_tokens_are_401(live: LiveServer) -> None:
    async with live.client("sc_not-a-real-token") as client:
        unknown = await client.get("/auth/me")
    async with live.client() as client:
        malformed = await client.get("/auth/me", headers={"Authorization": "Basic abc"})
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "Invalid or revoked token"
    assert malformed.status_code == 401
    assert "Bearer" in malformed.json()["detail"]


async def test_revoked_token_is_401(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    async with live.client(identity.token) as client:
        assert (await client.get("/auth/me")).status_code == 200
        async with live.database.pool.connection() as conn:
            assert await accounts.revoke_token(conn, token_or_prefix=identity.token[:11]) == 1
        response = await client.get("/auth/me")
    assert response.status_code == 401


async def test_me_describes_the_caller_and_records_last_use(
    live: LiveServer, make_identity: TokenFactory, db_url: str
) -> None:
    identity = await make_identity(permissions=("admin.automation", "sellers.read"))
    async with live.client(identity.token) as client:
        response = await client.get("/auth/me")
    assert response.status_code == 200
    body = response.json()
    assert body["org_name"] == identity.org_name
    assert body["permission_keys"] == ["admin.automation", "sellers.read"]
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT t.last_used_at FROM api_tokens t JOIN memberships m ON m.id = t.membership_id WHERE m.user_id = %s",
            (identity.user_id,),
        ).fetchone()
    assert row is not None and row[0] is not None


async def test_tokens_are_stored_hashed(live: LiveServer, make_identity: TokenFactory, db_url: str) -> None:
    identity = await make_identity()
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT token_hash::text, prefix FROM api_tokens").fetchall()
    assert all(identity.token not in str(row) for row in rows)
    assert any(row[1] == identity.token[:11] for row in rows)


async def test_session_cookie_flow_with_csrf(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    async with live.client() as browser:
        opened = await browser.post("/auth/session", headers={"Authorization": f"Bearer {identity.token}"})
        assert opened.status_code == 200
        cookie_header = opened.headers["set-cookie"].lower()
        assert "httponly" in cookie_header
        assert "samesite=strict" in cookie_header
        csrf = opened.json()["csrf_token"]

        me = await browser.get("/auth/me")
        assert me.status_code == 200
        assert me.json()["org_id"] == str(identity.org_id)

        # State-changing requests with only the cookie must prove they come from our page.
        forged = await browser.delete("/auth/session")
        assert forged.status_code == 403
        assert "X-CSRF-Token" in forged.json()["detail"]

        ended = await browser.delete("/auth/session", headers={"X-CSRF-Token": csrf})
        assert ended.status_code == 204
        browser.cookies.clear()
        assert (await browser.get("/auth/me")).status_code == 401


async def test_session_dies_with_its_token(live: LiveServer, make_identity: TokenFactory) -> None:
    identity = await make_identity()
    async with live.client() as browser:
        await browser.post("/auth/session", headers={"Authorization": f"Bearer {identity.token}"})
        assert (await browser.get("/auth/me")).status_code == 200
        async with live.database.pool.connection() as conn:
            await accounts.revoke_token(conn, token_or_prefix=identity.token)
        response = await browser.get("/auth/me")
    assert response.status_code == 401
    assert response.json()["detail"] == "Session expired or revoked"


async def test_session_needs_a_bearer_token(live: LiveServer) -> None:
    async with live.client() as client:
        response = await client.post("/auth/session")
    assert response.status_code == 401
