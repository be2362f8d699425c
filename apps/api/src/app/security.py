"""Who is calling, without HTTP: secrets and their hashes, credentials to a `Caller`, permission checks.

API tokens are opaque random strings; only their sha256 is stored. A browser trades a token for an
HttpOnly, SameSite=Strict session cookie (so EventSource needs no token in its URL); state-changing
requests made with that cookie must also echo the session's CSRF token in `X-CSRF-Token`. Reading
those from a request is `app.http.deps`'s job; services use this module.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, fields
from uuid import UUID

from app.db.pool import Pool
from app.errors import NotAuthenticated, PermissionDenied
from app.repositories import auth as repo

TOKEN_PREFIX = "sc_"
SESSION_COOKIE = "sc_session"
CSRF_HEADER = "X-CSRF-Token"
# A readable copy of the session's CSRF token for the web page (it must survive a reload); the server
# still checks the header against the stored token, so the cookie alone proves nothing.
CSRF_COOKIE = "sc_csrf"

# Permission keys. Automation admins may also read and change the seller list.
AUTOMATION = "admin.automation"
SELLERS_READ = ("sellers.read", "sellers.write", AUTOMATION)
SELLERS_WRITE = ("sellers.write", AUTOMATION)


@dataclass(frozen=True)
class Caller:
    user_id: UUID
    email: str
    org_id: UUID
    org_name: str
    membership_id: UUID
    token_id: UUID | None  # None for a caller acting without a token (the local `collect` command)
    permission_keys: frozenset[str]
    session_id: UUID | None = None

    @classmethod
    def from_row(cls, row: repo.CallerRow) -> Caller:
        """The row's fields of the same names (not its CSRF token), with the permission keys as a set."""
        same_names = {f.name: getattr(row, f.name) for f in fields(cls)}
        return cls(**{**same_names, "permission_keys": frozenset(row.permission_keys)})


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def token_display_prefix(token: str) -> str:
    """The part of a token that may be shown and logged: enough to tell tokens apart, useless to an attacker."""
    return token[: len(TOKEN_PREFIX) + 8]


async def caller_from_token(pool: Pool, token: str) -> Caller:
    """The caller behind an API token; 401 when it is unknown or revoked."""
    async with pool.connection() as conn:
        row = await repo.caller_by_token_hash(conn, token_hash=hash_secret(token))
        if row is None:
            raise NotAuthenticated("Invalid or revoked token")
        assert row.token_id is not None
        await repo.touch_api_token(conn, token_id=row.token_id)
    return Caller.from_row(row)


async def caller_from_session(pool: Pool, session_secret: str, *, csrf_token: str | None) -> Caller:
    """The caller behind a session secret (the cookie's value); 401 when it is expired or revoked.

    `csrf_token` is what a state-changing request echoed, or None for a safe request, which needs no proof.
    """
    async with pool.connection() as conn:
        row = await repo.caller_by_session_hash(conn, session_hash=hash_secret(session_secret))
    if row is None:
        raise NotAuthenticated("Session expired or revoked")
    if csrf_token is not None and not hmac.compare_digest(csrf_token.encode(), str(row.csrf_token).encode()):
        raise PermissionDenied(f"Missing or invalid {CSRF_HEADER} header for a cookie-authenticated request")
    return Caller.from_row(row)


async def caller_from_stream_token(pool: Pool, token: str, run_id: UUID) -> Caller:
    """The caller behind a short-lived stream token, which opens only the run it was issued for.

    A token issued through a browser session carries that session (`Caller.session_id`) and is
    refused once the session has ended.
    """
    async with pool.connection() as conn:
        row = await repo.caller_by_stream_token(conn, token_hash=hash_secret(token), run_id=run_id)
    if row is None:
        raise NotAuthenticated("Invalid or expired stream token (or the session it came from ended)")
    return Caller.from_row(row)


async def caller_for_member(pool: Pool, membership_id: UUID) -> Caller:
    """The caller a membership acts as without any credential: for local commands, which the operator runs."""
    async with pool.connection() as conn:
        row = await repo.caller_by_membership(conn, membership_id=membership_id)
    if row is None:
        raise NotAuthenticated("No such membership")
    return Caller.from_row(row)


def check_permission(caller: Caller, *keys: str) -> Caller:
    """The caller, if their membership holds any of `keys`; else 403."""
    if caller.permission_keys.isdisjoint(keys):
        needed = keys[0] if len(keys) == 1 else f"one of {', '.join(keys)}"
        raise PermissionDenied(f"Permission denied: {needed} required")
    return caller
