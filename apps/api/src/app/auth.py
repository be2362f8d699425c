"""Who is calling: Bearer tokens, session cookies, CSRF, and `require_permission_key`.

API tokens are opaque random strings; only their sha256 is stored. A browser trades a token for an
HttpOnly, SameSite=Strict session cookie (so EventSource needs no token in its URL); state-changing
requests made with that cookie must also echo the session's CSRF token in `X-CSRF-Token`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import Depends, Request

from app.db import Pool
from app.deps import get_pool
from app.errors import NotAuthenticated, PermissionDenied
from app.repositories import auth as repo

TOKEN_PREFIX = "sc_"
SESSION_COOKIE = "sc_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    user_id: UUID
    email: str
    org_id: UUID
    org_name: str
    membership_id: UUID
    token_id: UUID
    permission_keys: frozenset[str]
    session_id: UUID | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Caller:
        return cls(
            user_id=row["user_id"],
            email=row["email"],
            org_id=row["org_id"],
            org_name=row["org_name"],
            membership_id=row["membership_id"],
            token_id=row["token_id"],
            permission_keys=frozenset(row["permission_keys"]),
            session_id=row.get("session_id"),
        )


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def token_display_prefix(token: str) -> str:
    """The part of a token that may be shown and logged: enough to tell tokens apart, useless to an attacker."""
    return token[: len(TOKEN_PREFIX) + 8]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("Malformed Authorization header: expected 'Bearer <token>'")
    return token.strip()


async def caller_from_token(pool: Pool, token: str) -> Caller:
    async with pool.connection() as conn:
        row = await repo.caller_by_token_hash(conn, token_hash=hash_secret(token))
        if row is None:
            raise NotAuthenticated("Invalid or revoked token")
        await repo.touch_api_token(conn, token_id=row["token_id"])
    return Caller.from_row(row)


async def authenticate(request: Request, pool: Pool = Depends(get_pool)) -> Caller:
    """The caller, from a Bearer token or else a session cookie; 401 when neither is valid."""
    token = bearer_token(request)
    if token is not None:
        return await caller_from_token(pool, token)
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        raise NotAuthenticated("Not authenticated: send 'Authorization: Bearer <token>' or a session cookie")
    async with pool.connection() as conn:
        row = await repo.caller_by_session_hash(conn, session_hash=hash_secret(session))
    if row is None:
        raise NotAuthenticated("Session expired or revoked")
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), str(row["csrf_token"]).encode()):
            raise PermissionDenied(f"Missing or invalid {CSRF_HEADER} header for a cookie-authenticated request")
    return Caller.from_row(row)


async def caller_from_stream_token(pool: Pool, token: str, run_id: UUID) -> Caller:
    """The caller behind a short-lived stream token, which opens only the run it was issued for."""
    async with pool.connection() as conn:
        row = await repo.caller_by_stream_token(conn, token_hash=hash_secret(token), run_id=run_id)
    if row is None:
        raise NotAuthenticated("Invalid or expired stream token")
    return Caller.from_row(row)


def check_permission(caller: Caller, key: str) -> Caller:
    if key not in caller.permission_keys:
        raise PermissionDenied(f"Permission denied: {key} required")
    return caller


def require_any_permission(*keys: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency that returns the caller if their membership holds any of `keys`, else 403."""

    async def dependency(caller: Caller = Depends(authenticate)) -> Caller:
        if caller.permission_keys.isdisjoint(keys):
            raise PermissionDenied(f"Permission denied: one of {', '.join(keys)} required")
        return caller

    return dependency


def require_permission_key(key: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency that returns the caller if their membership holds `key`, else 403."""

    async def dependency(caller: Caller = Depends(authenticate)) -> Caller:
        return check_permission(caller, key)

    return dependency


# Reading the seller list and its history; changing it. Automation admins may do both.
require_sellers_read = require_any_permission("sellers.read", "sellers.write", "admin.automation")
require_sellers_write = require_any_permission("sellers.write", "admin.automation")
