"""Orgs, memberships and credentials: issuing and revoking tokens, opening and closing sessions."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from app.db.pool import Conn
from app.errors import InvalidInput, NotAuthenticated
from app.models import reject_control_characters
from app.repositories import auth as repo
from app.security import TOKEN_PREFIX, Caller, hash_secret, new_secret, token_display_prefix

__all__ = ["InvalidInput", "IssuedToken", "Member", "OpenedSession", "ensure_member", "issue_token", "revoke_token"]

logger = logging.getLogger(__name__)

KNOWN_PERMISSIONS = frozenset({"admin.automation", "sellers.read", "sellers.write"})


@dataclass(frozen=True)
class Member:
    org_id: UUID
    user_id: UUID
    membership_id: UUID


@dataclass(frozen=True)
class IssuedToken:
    token: str
    org_id: UUID
    user_id: UUID
    membership_id: UUID


async def ensure_member(conn: Conn, *, org_name: str, email: str, permissions: list[str]) -> Member:
    """Create the org, user and membership when missing, and grant `permissions` (never removes any)."""
    org_name, email = org_name.strip(), email.strip()
    if not org_name:
        raise InvalidInput("Org name must not be empty")
    try:
        reject_control_characters(org_name + email)
    except ValueError as exc:
        raise InvalidInput("Org name and email must not contain control characters") from exc
    if "@" not in email:
        raise InvalidInput(f"Not an email address: {email!r}")
    unknown = sorted(set(permissions) - KNOWN_PERMISSIONS)
    if unknown:
        known = ", ".join(sorted(KNOWN_PERMISSIONS))
        raise InvalidInput(f"Unknown permission(s): {', '.join(unknown)}; known: {known}")
    async with conn.transaction():
        org_id = await repo.upsert_org(conn, name=org_name)
        user_id = await repo.upsert_user(conn, email=email)
        membership_id = await repo.upsert_membership(
            conn, org_id=org_id, user_id=user_id, permission_keys=sorted(set(permissions))
        )
    return Member(org_id=org_id, user_id=user_id, membership_id=membership_id)


async def issue_token(conn: Conn, *, org_name: str, email: str, permissions: list[str]) -> IssuedToken:
    """Ensure the membership (see `ensure_member`) and mint a new token for it."""
    async with conn.transaction():
        member = await ensure_member(conn, org_name=org_name, email=email, permissions=permissions)
        token = new_secret(TOKEN_PREFIX)
        await repo.insert_api_token(
            conn, membership_id=member.membership_id, token_hash=hash_secret(token), prefix=token_display_prefix(token)
        )
    logger.info("issued token %s… for %s in org %s", token_display_prefix(token), email.strip(), org_name.strip())
    return IssuedToken(token=token, org_id=member.org_id, user_id=member.user_id, membership_id=member.membership_id)


async def revoke_token(conn: Conn, *, token_or_prefix: str) -> int:
    """Revoke by the token itself or its shown prefix; returns how many tokens were revoked."""
    return await repo.revoke_api_tokens(conn, prefix=token_display_prefix(token_or_prefix.strip()))


@dataclass(frozen=True)
class OpenedSession:
    session_secret: str
    csrf_token: str
    expires_at: datetime


async def open_session(conn: Conn, *, caller: Caller, ttl_hours: int) -> OpenedSession:
    if caller.token_id is None:
        raise NotAuthenticated("A session is opened with an API token")
    secret = new_secret()
    csrf = secrets.token_urlsafe(24)
    expires_at = await repo.insert_session(
        conn, session_hash=hash_secret(secret), api_token_id=caller.token_id, csrf_token=csrf, ttl_hours=ttl_hours
    )
    return OpenedSession(session_secret=secret, csrf_token=csrf, expires_at=expires_at)


async def close_session(conn: Conn, *, session_id: UUID) -> None:
    await repo.delete_session(conn, session_id=session_id)
